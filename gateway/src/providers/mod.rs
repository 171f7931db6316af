//! Provider protocols other than OpenAI's, translated at the edge.

pub mod anthropic;
