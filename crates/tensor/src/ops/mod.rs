//! Differentiable operations on [`crate::Tensor`], grouped by kind. Each op validates its inputs
//! (typed errors naming the op and the shapes), computes the forward value, and records a backward
//! closure in the graph when a gradient is needed.

mod attention;
pub mod broadcast;
mod elementwise;
mod head_attention;
mod linalg;
mod linear;
mod matmul;
mod nn;
mod reduce;
mod shape;
