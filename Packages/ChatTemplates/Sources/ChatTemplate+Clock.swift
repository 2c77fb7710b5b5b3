public import Foundation

extension ChatTemplate {
  /// Reads `YYYY-MM-DDTHH:MM:SS` as a time in the local time zone (Python's naive `datetime`), the form
  /// `bnb-tokenizer render --now` and the fixtures use for the clock `strftime_now` reads.
  ///
  /// - Parameter text: The date and time, e.g. `2024-07-26T12:00:00`.
  /// - Returns: The moment, or `nil` when the text is not a valid date and time of that form.
  public static func localDate(from text: String) -> Date? {
    let parts = text.split(separator: "T", omittingEmptySubsequences: false)
    guard parts.count == 2 else { return nil }
    let day = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
    let time = parts[1].split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
    guard day.count == 3, time.count == 3 else { return nil }
    let values = (day + time).compactMap { $0 }
    guard values.count == 6 else { return nil }
    let calendar = Calendar(identifier: .gregorian)
    let components = DateComponents(
      calendar: calendar, timeZone: TimeZone.current, year: values[0], month: values[1], day: values[2], hour: values[3],
      minute: values[4], second: values[5])
    guard components.isValidDate else { return nil }
    return calendar.date(from: components)
  }
}
