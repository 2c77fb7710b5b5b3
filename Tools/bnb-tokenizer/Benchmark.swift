import ArgumentParser
import Foundation
import Tokenizers

/// `bnb-tokenizer bench`: how long loading takes and how fast encoding runs on one core.
struct Benchmark: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure loading and encoding speed (one thread; build with -c release).",
    discussion: "Loads the model folder --repeat times and encodes the text file --repeat times; prints the best runs."
  )

  @Option(name: .long, help: "The model folder (with tokenizer.json).")
  var model: String

  @Option(name: .customLong("text-file"), help: "A UTF-8 text file to encode.")
  var textFile: String

  @Option(name: .long, help: "Runs of each measurement.")
  var `repeat` = 3

  func run() throws {
    var bestLoad = Double.infinity
    var tokenizer: Tokenizer?
    for _ in 0..<max(1, `repeat`) {
      let start = DispatchTime.now()
      tokenizer = try BNBTokenizer.loadTokenizer(model)
      bestLoad = min(bestLoad, seconds(since: start))
    }
    guard let tokenizer, let data = FileManager.default.contents(atPath: textFile),
      let text = String(validating: data, as: UTF8.self)
    else {
      throw CommandFailure(status: .io, message: "\(textFile): cannot read as UTF-8 text")
    }
    var bestEncode = Double.infinity
    var count = 0
    for _ in 0..<max(1, `repeat`) {
      let fresh = try BNBTokenizer.loadTokenizer(model)  // no warm word cache
      let start = DispatchTime.now()
      count = fresh.encode(text).count
      bestEncode = min(bestEncode, seconds(since: start))
    }
    let megabytes = Double(data.count) / 1_000_000
    let lines = [
      "vocabulary: \(tokenizer.vocabularySize) ids",
      String(format: "load: %.3f s", bestLoad),
      String(format: "encode: %.2f MB in %.3f s = %.2f MB/s, %d tokens", megabytes, bestEncode, megabytes / bestEncode, count),
    ]
    BNBTokenizer.console.write(lines.joined(separator: "\n") + "\n")
  }

  private func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
  }
}
