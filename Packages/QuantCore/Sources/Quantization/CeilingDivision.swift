extension Int {
  /// `ceil(self / divisor)` without the intermediate `self + divisor - 1`, which overflows (and traps)
  /// when either value comes from a file or a job near `Int.max`: the one block- and tile-count
  /// formula for every size read from outside.
  ///
  /// - Parameter divisor: A positive divisor (a blocksize or tile side).
  /// - Returns: The quotient rounded up (rounded towards zero for a negative `self`, as before).
  package func dividedRoundingUp(by divisor: Int) -> Int {
    self > 0 ? (self - 1) / divisor + 1 : self / divisor
  }
}
