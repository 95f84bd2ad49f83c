"""Text before speech, for every synthesis engine: what a phonemizer can take, and words for symbols."""
