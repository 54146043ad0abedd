use dspy::Signature;

/// Classify the headline.
#[derive(Signature)]
struct Classify {
    #[input]
    headline: String,
    // The enum is generated: the type names it.
    #[output(labels = ["business", "sport"])]
    topic: String,
    #[output(labels = ["low", "low", 3, "Very high", "very_high"])]
    urgency: Urgency,
    #[output(labels = [])]
    tone: Tone,
}

fn main() {}
