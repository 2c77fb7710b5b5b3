/// Applies BPE merges to a word's symbols: always the pair of lowest rank, leftmost on ties, as the Rust
/// library's priority queue does.
enum BPEMerger {
  private struct Candidate: Comparable {
    var rank: Int32
    var position: Int32
    var id: Int32
    static func < (lhs: Candidate, rhs: Candidate) -> Bool {
      lhs.rank != rhs.rank ? lhs.rank < rhs.rank : lhs.position < rhs.position
    }
  }

  static func merge(_ symbols: [Int], merges: [UInt64: (rank: Int32, id: Int32)]) -> [Int] {
    let count = symbols.count
    if count < 2 || merges.isEmpty { return symbols }
    var ids = symbols
    var previous = (0..<count).map { $0 - 1 }
    var next = (0..<count).map { $0 + 1 }
    var alive = [Bool](repeating: true, count: count)
    var heap = MinHeap<Candidate>()
    func key(_ left: Int, _ right: Int) -> UInt64 {
      UInt64(UInt32(truncatingIfNeeded: left)) << 32 | UInt64(UInt32(truncatingIfNeeded: right))
    }
    for position in 0..<(count - 1) {
      if let merge = merges[key(ids[position], ids[position + 1])] {
        heap.push(Candidate(rank: merge.rank, position: Int32(position), id: merge.id))
      }
    }
    while let top = heap.pop() {
      let position = Int(top.position)
      guard alive[position], next[position] < count else { continue }
      let right = next[position]
      guard let merge = merges[key(ids[position], ids[right])], merge.id == top.id else { continue }
      ids[position] = Int(top.id)
      alive[right] = false
      next[position] = next[right]
      if next[right] < count { previous[next[right]] = position }
      if previous[position] >= 0 {
        let left = previous[position]
        if let merge = merges[key(ids[left], ids[position])] {
          heap.push(Candidate(rank: merge.rank, position: Int32(left), id: merge.id))
        }
      }
      if next[position] < count, let merge = merges[key(ids[position], ids[next[position]])] {
        heap.push(Candidate(rank: merge.rank, position: Int32(position), id: merge.id))
      }
    }
    var result: [Int] = []
    result.reserveCapacity(count)
    for position in 0..<count where alive[position] { result.append(ids[position]) }
    return result
  }
}

/// A binary min-heap.
struct MinHeap<Element: Comparable> {
  private var elements: [Element] = []

  mutating func push(_ element: Element) {
    elements.append(element)
    var child = elements.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard elements[child] < elements[parent] else { break }
      elements.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> Element? {
    guard let first = elements.first else { return nil }
    let last = elements.removeLast()
    if elements.isEmpty { return first }
    elements[0] = last
    var parent = 0
    while true {
      let left = parent * 2 + 1
      let right = left + 1
      var smallest = parent
      if left < elements.count && elements[left] < elements[smallest] { smallest = left }
      if right < elements.count && elements[right] < elements[smallest] { smallest = right }
      if smallest == parent { break }
      elements.swapAt(parent, smallest)
      parent = smallest
    }
    return first
  }
}
