//! Averaging gradients across data-parallel workers: the one collective a data-parallel training
//! step needs, behind a small trait so the trainer does not depend on how it is carried out.
//!
//! Why a trait now: the multi-GPU design (docs/scale-out.md) reduces gradients with NCCL
//! through `cudarc::nccl`, one communicator per rank. The trainer only needs "replace my
//! gradient by the mean over all ranks", so it is written against [`GradientAllReduce`], and the
//! in-process [`LocalAllReduce`] (threads of one process) tests that contract on the CPU today:
//! two workers, each on half a batch, must end a step with the weights of one worker on the
//! whole batch.
//!
//! The gradients travel as one flat `f32` buffer per step (all parameters packed in a fixed
//! order, see [`all_reduce_gradients`]): one collective call per step instead of one per
//! parameter, as NCCL's bucketed all-reduce does.

use crate::tensor::Tensor;
use std::sync::{Arc, Barrier, Mutex};
use thiserror::Error;

/// Why an all-reduce could not be done.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AllReduceError {
    /// The ranks passed buffers of different lengths (their models differ).
    #[error("rank {rank} passed {got} gradient values, rank 0 passed {expected}: the workers' models differ")]
    Length {
        rank: usize,
        got: usize,
        expected: usize,
    },
    /// Another rank failed while holding the shared state.
    #[error("another worker failed during the all-reduce")]
    Poisoned,
    /// A parameter without a gradient (backward did not reach it on this rank).
    #[error("parameter {index} has no gradient to reduce")]
    MissingGradient { index: usize },
}

/// One rank's handle on a group of data-parallel workers.
pub trait GradientAllReduce {
    /// The number of workers in the group.
    fn world_size(&self) -> usize;
    /// This worker's rank, in `0..world_size()`.
    fn rank(&self) -> usize;
    /// Replace `buffer` by the element-wise mean of every rank's buffer. Every rank calls it
    /// once per step with a buffer of the same length; the call returns when the mean is in.
    fn all_reduce_mean(&mut self, buffer: &mut [f32]) -> Result<(), AllReduceError>;
}

/// Pack the gradients of `params` (in order) into one buffer, average it over the group, and
/// write the mean back into each parameter's gradient.
pub fn all_reduce_gradients(
    reducer: &mut dyn GradientAllReduce,
    params: &[Tensor],
) -> Result<(), AllReduceError> {
    let mut flat = Vec::new();
    for (index, p) in params.iter().enumerate() {
        let grad = p.grad().ok_or(AllReduceError::MissingGradient { index })?;
        flat.extend(grad.iter().copied());
    }
    reducer.all_reduce_mean(&mut flat)?;
    let mut offset = 0;
    for p in params {
        p.with_grad_mut(|g| {
            if let Some(g) = g {
                let n = g.len();
                for (dst, src) in g.iter_mut().zip(&flat[offset..offset + n]) {
                    *dst = *src;
                }
                offset += n;
            }
        });
    }
    Ok(())
}

/// The state the workers of a [`LocalAllReduce`] group share: one slot per rank.
struct Shared {
    slots: Mutex<Vec<Vec<f32>>>,
    barrier: Barrier,
}

/// An all-reduce among the threads of one process: each rank deposits its buffer in its slot,
/// and after a barrier every rank sums the slots in rank order. Summing in a fixed order makes
/// the mean bit-identical on every rank, whatever order the threads arrive in, which is what
/// keeps the replicas' weights equal step after step.
pub struct LocalAllReduce {
    rank: usize,
    shared: Arc<Shared>,
}

impl LocalAllReduce {
    /// The handles of a group of `world_size` workers (rank i is element i); give one to each
    /// thread. A worker that stops calling leaves the others waiting: the group is for workers
    /// that run the same number of steps.
    pub fn group(world_size: usize) -> Vec<LocalAllReduce> {
        let world_size = world_size.max(1);
        let shared = Arc::new(Shared {
            slots: Mutex::new(vec![Vec::new(); world_size]),
            barrier: Barrier::new(world_size),
        });
        (0..world_size)
            .map(|rank| LocalAllReduce {
                rank,
                shared: Arc::clone(&shared),
            })
            .collect()
    }
}

impl GradientAllReduce for LocalAllReduce {
    fn world_size(&self) -> usize {
        self.shared.slots.lock().map_or(1, |s| s.len())
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn all_reduce_mean(&mut self, buffer: &mut [f32]) -> Result<(), AllReduceError> {
        {
            let mut slots = self
                .shared
                .slots
                .lock()
                .map_err(|_| AllReduceError::Poisoned)?;
            slots[self.rank].clear();
            slots[self.rank].extend_from_slice(buffer);
        }
        self.shared.barrier.wait();
        let result = {
            let slots = self
                .shared
                .slots
                .lock()
                .map_err(|_| AllReduceError::Poisoned)?;
            let expected = slots[0].len();
            match slots.iter().position(|s| s.len() != expected) {
                Some(rank) => Err(AllReduceError::Length {
                    rank,
                    got: slots[rank].len(),
                    expected,
                }),
                None => {
                    let n = slots.len() as f32;
                    for (i, out) in buffer.iter_mut().enumerate() {
                        let sum: f32 = slots.iter().map(|s| s[i]).sum();
                        *out = sum / n;
                    }
                    Ok(())
                }
            }
        };
        // Nobody overwrites a slot for the next step before every rank has read this one.
        self.shared.barrier.wait();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rank_receives_the_mean_in_the_same_bits() {
        let handles = LocalAllReduce::group(3);
        let outs: Vec<Vec<f32>> = std::thread::scope(|s| {
            let joins: Vec<_> = handles
                .into_iter()
                .map(|mut h| {
                    s.spawn(move || {
                        let r = h.rank() as f32;
                        let mut last = Vec::new();
                        for step in 0..5 {
                            let mut buf = vec![r + step as f32, 0.1 * r, -r];
                            h.all_reduce_mean(&mut buf).unwrap();
                            last = buf;
                        }
                        last
                    })
                })
                .collect();
            joins.into_iter().map(|j| j.join().unwrap()).collect()
        });
        let expected = [(0.0 + 1.0 + 2.0) / 3.0 + 4.0, 0.1, -1.0];
        for out in &outs {
            assert_eq!(out, &outs[0]);
            for (a, b) in out.iter().zip(expected) {
                assert!((a - b).abs() < 1e-6, "{out:?}");
            }
        }
    }

    #[test]
    fn buffers_of_different_lengths_are_an_error_on_every_rank() {
        let handles = LocalAllReduce::group(2);
        let errs: Vec<_> = std::thread::scope(|s| {
            let joins: Vec<_> = handles
                .into_iter()
                .map(|mut h| {
                    s.spawn(move || {
                        let mut buf = vec![1.0; 2 + h.rank()];
                        h.all_reduce_mean(&mut buf)
                    })
                })
                .collect();
            joins.into_iter().map(|j| j.join().unwrap()).collect()
        });
        for e in errs {
            assert_eq!(
                e,
                Err(AllReduceError::Length {
                    rank: 1,
                    got: 3,
                    expected: 2
                })
            );
        }
    }

    #[test]
    fn a_group_of_one_is_the_identity() {
        let mut h = LocalAllReduce::group(1).pop().unwrap();
        let mut buf = vec![1.5, -2.0];
        h.all_reduce_mean(&mut buf).unwrap();
        assert_eq!(buf, vec![1.5, -2.0]);
        assert_eq!(h.world_size(), 1);
    }
}
