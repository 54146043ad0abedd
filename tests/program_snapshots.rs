//! What each example program sends, rendered without an LM, before and after loading a
//! compiled artifact: a prompt change, or a re-compiled artifact, shows up as a snapshot diff
//! (`cargo insta review`).

#[path = "../examples/support/programs.rs"]
mod programs;

use dspy::prelude::*;
use programs::*;

const ARTIFACTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn passages() -> Vec<String> {
    [
        "Ballon d'Or 2008: Cristiano Ronaldo of Manchester United won the award in Paris.",
        "Manchester United play their home games at Old Trafford in Greater Manchester.",
        "Old Trafford opened in 1910 and holds about 74,000 spectators.",
        "Arsenal moved from Highbury to the Emirates Stadium in 2006.",
    ]
    .map(String::from)
    .to_vec()
}

async fn render<P: Module + Params>(program: &P, input: P::Input) -> String {
    dspy::render_prompts(program, input).await.unwrap()
}

#[tokio::test]
async fn classifier_prompts() {
    let mut p = SentimentClassifier::new();
    let input = || SentimentClassifierInput {
        review: "A joyless, overlong exercise in style over substance.".into(),
    };
    insta::assert_snapshot!("classifier_zero_shot", render(&p, input()).await);
    p.load(format!("{ARTIFACTS}/classifier_compiled.json"))
        .unwrap();
    assert_eq!(p.classify.demos().len(), 2);
    insta::assert_snapshot!("classifier_compiled", render(&p, input()).await);
}

#[tokio::test]
async fn extractor_prompts() {
    let p = Extractor::new();
    let input = ExtractorInput {
        headline: "Ferguson praises Ronaldo after Old Trafford win".into(),
        text: "Sir Alex Ferguson said Cristiano Ronaldo was the best player in the world after \
               Manchester United beat Arsenal at Old Trafford."
            .into(),
    };
    insta::assert_snapshot!("extractor_zero_shot", render(&p, input).await);
}

#[tokio::test]
async fn multihop_prompts_and_graph() {
    let mut p = MultiHop::new(2, passages());
    let input = || MultiHopInput {
        question: "Where does the club of the 2008 Ballon d'Or winner play?".into(),
    };
    insta::assert_snapshot!(
        "multihop_graph",
        format!("{}\n\n{}", p.graph(), p.graph().mermaid())
    );
    insta::assert_snapshot!("multihop_zero_shot", render(&p, input()).await);
    p.load(format!("{ARTIFACTS}/multihop_compiled.json"))
        .unwrap();
    insta::assert_snapshot!("multihop_compiled", render(&p, input()).await);
}

mod embedded {
    //! A compiled artifact embedded at build time: `#[artifact]` checks it against the program
    //! (a stale one is a build error: macro-errors/tests/ui/program_stale_artifact.rs).
    use super::programs::ReviewSentiment;
    use dspy::prelude::*;

    program! {
        /// The classifier, with its compiled artifact built in.
        #[artifact("fixtures/classifier_compiled.json")]
        pub struct Classifier {
            pub classify: Predict<ReviewSentiment>,
        }

        async fn forward(&self, review: String) -> dspy::Result<String> {
            Ok(format!("{:?}", self.classify(review).await?.sentiment))
        }
    }

    #[test]
    fn embedded_artifact_loads() {
        let mut p = Classifier {
            classify: Predict::new(),
        };
        p.load_artifact().unwrap();
        assert_eq!(p.classify.demos().len(), 2);
        assert!(Classifier::ARTIFACT.contains("A gorgeous, witty, seductive movie."));
    }
}
