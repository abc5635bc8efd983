//! `page` / `per_page` query parameters, checked into a 422 when out of range.

use crate::problem::{ApiError, FieldError};

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// 1-based page number.
    pub page: i64,
    /// Items per page, 1-100.
    pub per_page: i64,
}

impl Page {
    /// Defaults: page 1, 20 per page.
    pub fn parse(page: Option<i64>, per_page: Option<i64>) -> Result<Self, ApiError> {
        let (page, per_page) = (page.unwrap_or(1), per_page.unwrap_or(20));
        let mut errors = Vec::new();
        if page < 1 {
            errors.push(FieldError {
                field: "page".to_owned(),
                message: "must be at least 1".to_owned(),
            });
        }
        if !(1..=100).contains(&per_page) {
            errors.push(FieldError {
                field: "per_page".to_owned(),
                message: "must be 1-100".to_owned(),
            });
        }
        if errors.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}
