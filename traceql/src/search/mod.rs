//! Search: partial results and their merge (`result`), the running answer (`collect`), one
//! batch's evaluation (`batch`), split traces evaluated once (`deferred`), the response shape
//! (`response`), the second pass (`second_pass`) and the async driver over units (`driver`).

pub mod batch;
pub mod collect;
pub mod deferred;
pub mod driver;
pub mod response;
pub mod result;
pub mod second_pass;
