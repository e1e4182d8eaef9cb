//! Learning-rate schedules.

/// Linear warm-up from `base_lr / warmup_steps` to `base_lr`, then a half-cosine decay to `min_lr`
/// at `total_steps` (constant `min_lr` afterwards). Steps count from 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineSchedule {
    /// Peak learning rate, reached at the end of the warm-up.
    pub base_lr: f32,
    /// Learning rate at the end.
    pub min_lr: f32,
    /// Number of warm-up steps (0 = none).
    pub warmup_steps: usize,
    /// Total number of steps.
    pub total_steps: usize,
}

impl CosineSchedule {
    /// The learning rate for `step`.
    pub fn lr(&self, step: usize) -> f32 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f32 / decay_steps as f32).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f32::consts::PI * progress).cos());
        self.min_lr + (self.base_lr - self.min_lr) * cosine
    }
}
