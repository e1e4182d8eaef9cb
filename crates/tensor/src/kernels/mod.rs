//! Raw compute kernels on ndarray views: no autodiff, no shape validation beyond debug assertions
//! (the ops in `crate::ops` validate and give typed errors before calling in here).
