import ArgumentParser
import Training

/// The training options `train` and `continual` share, checked once and turned into the
/// trainer's settings in one place.
struct TrainingOptions: ParsableArguments {
    @Option(name: .long, help: "Passes over each task's training set.")
    var epochs: Int = 3
    @Option(name: .long, help: "Peak learning rate.")
    var lr: Float = 1e-4
    @Option(name: .long, help: "Inputs per step (and per scoring batch in continual).")
    var batch: Int = 32
    @Option(name: .long, help: "AdamW weight decay.")
    var weightDecay: Float = 0.01
    @Option(name: .long, help: "Fraction of the steps spent warming up.")
    var warmup: Double = 0.1
    @Option(
        name: .long,
        help:
            """
            Similarity temperature (default: the checkpoint's learned logit scale, as CLIP has; else 0.05, a \
            scale of 20).
            """
    )
    var temperature: Float?
    @Option(name: .long, help: "Seed of the shuffles and the dropout.")
    var seed: UInt64 = 0
    @Flag(inversion: .prefixedNo, help: "Dropout as the model's configuration says.")
    var dropout = true

    func validate() throws {
        if epochs < 1 || batch < 1 { throw ValidationError("--epochs and --batch must be at least 1") }
        if !(lr > 0) || !(temperature.map { $0 > 0 } ?? true) || weightDecay < 0 || !(0..<1).contains(warmup) {
            throw ValidationError(
                "--lr and --temperature must be positive, --weight-decay non-negative, --warmup in [0, 1)")
        }
    }

    var settings: MaskedTrainer.Settings {
        var settings = MaskedTrainer.Settings()
        settings.epochs = epochs
        settings.learningRate = lr
        settings.batchSize = batch
        settings.weightDecay = weightDecay
        settings.warmup = warmup
        settings.temperature = temperature
        settings.seed = seed
        settings.dropout = dropout
        return settings
    }
}
