//! The credential chain end to end.
