//! Nothing to use: this package holds the trybuild cases of dspy's macro errors
//! (`tests/ui/*.rs`, each with the `.stderr` a user sees).
