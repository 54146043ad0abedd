//! Inference-time strategies: modules that spend more LM calls on one input for a better
//! output (DSPy's `BestOfN`, `Refine`, `MultiChainComparison`, `majority`), and `Parallel`.

mod attempts;
mod best_of_n;
mod majority;
mod multi_chain;
mod offer_feedback;
mod parallel;
mod refine;

pub use best_of_n::BestOfN;
pub use majority::{majority_last_field, majority_text};
pub use multi_chain::{Compared, MultiChainComparison};
pub use parallel::Parallel;
pub use refine::Refine;
