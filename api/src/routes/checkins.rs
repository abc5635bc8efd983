//! The door: check-ins (live and uploaded from offline devices), the keys
//! and revocations a device needs to check tickets offline, and counts.
//! For the event's organizer, admins, and API keys with the `checkin` scope
//! whose owner organizes the event.

mod views;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use marquee_core::auth::Role;
use marquee_core::auth::api_keys::Scope;
use marquee_core::tickets::checkin::{self, Scan};
use marquee_core::tickets::door;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::auth::{AnyAuth, BearerAuth, Caller, Credential};
use crate::contract::{CONFLICT, FORBIDDEN, GONE, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::problem::{ApiError, FieldError};
use crate::routes::ApiTags;
use crate::state::AppState;
pub use views::*;

/// Check-in endpoints.
pub struct CheckinApi;

#[derive(ApiResponse)]
enum Admitted {
    /// `ok`: let them in. A retry with the same `nonce` answers this again.
    #[oai(status = 201)]
    Ok(Json<CheckinView>),
}

#[derive(ApiResponse)]
enum KeyAdded {
    /// The new key; it signs every ticket issued from now on.
    #[oai(status = 201)]
    Created(Json<CheckinKey>),
}

#[OpenApi(tag = "ApiTags::Checkin")]
impl CheckinApi {
    /// Check a ticket in by its QR token or typed code. 201 `ok`; otherwise
    /// a problem whose `checkin.status` says why: 409 `already_used` (with
    /// when and which device) or `wrong_event`, 410 `revoked`, 404
    /// `unknown` (also a forged or damaged code). Exactly one scan of a
    /// ticket is `ok`, however many devices race.
    #[oai(path = "/api/v1/events/:id/checkins", method = "post")]
    async fn check_in(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
        body: Json<CheckinBody>,
    ) -> Result<
        Admitted,
        Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | GONE | UNPROCESSABLE_ENTITY }>,
    > {
        let caller = auth.caller();
        require_door(&state, caller, id.0).await?;
        let body = body.0;
        let mut errors = Vec::new();
        check_scan_fields(
            "",
            body.nonce.as_deref(),
            body.device.as_deref(),
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors).into());
        }
        let scan = Scan {
            code: body.code,
            nonce: body.nonce,
            device: device_of(&state, caller, body.device).await?,
            scanned_at: None,
        };
        let view = crate::actions::door::check_in(state.0, id.0, &scan).await?;
        if view.status == "ok" {
            Ok(Admitted::Ok(Json(view)))
        } else {
            Err(ApiError::Checkin(Box::new(view)).into())
        }
    }

    /// Upload scans made offline (at most 1,000), each with its nonce and
    /// scan time (within the last 30 days). They are applied in scan-time order, so the first scan in
    /// time wins; the results come back in the order sent.
    #[oai(path = "/api/v1/events/:id/checkins/batch", method = "post")]
    async fn batch(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
        body: Json<BatchBody>,
    ) -> Result<Json<BatchResults>, Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY }>>
    {
        let caller = auth.caller();
        require_door(&state, caller, id.0).await?;
        let scans = body.0.scans;
        let mut errors = Vec::new();
        if scans.is_empty() || scans.len() > MAX_BATCH {
            errors.push(FieldError {
                field: "scans".to_owned(),
                message: format!("1-{MAX_BATCH} scans"),
            });
        }
        // Clocks drift a little; an upload older than a month is not a
        // door's backlog but a wrong clock.
        let latest = chrono::Utc::now() + chrono::Duration::minutes(5);
        let earliest = chrono::Utc::now() - chrono::Duration::days(30);
        for (n, scan) in scans.iter().enumerate() {
            let at = format!("scans[{n}].");
            check_scan_fields(&at, Some(&scan.nonce), scan.device.as_deref(), &mut errors);
            if scan.scanned_at > latest {
                errors.push(FieldError {
                    field: format!("{at}scanned_at"),
                    message: "is in the future".to_owned(),
                });
            } else if scan.scanned_at < earliest {
                errors.push(FieldError {
                    field: format!("{at}scanned_at"),
                    message: "is more than 30 days ago".to_owned(),
                });
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors).into());
        }
        let default_device = device_of(&state, caller, None).await?;
        let scans: Vec<Scan> = scans
            .into_iter()
            .map(|s| Scan {
                code: s.code,
                nonce: Some(s.nonce),
                device: s.device.unwrap_or_else(|| default_device.clone()),
                scanned_at: Some(s.scanned_at),
            })
            .collect();
        let results = checkin::check_in_batch(&state.pool, id.0, &scans)
            .await
            .map_err(ApiError::from)?;
        state.live.changed(id.0);
        Ok(Json(BatchResults::new(&scans, results)))
    }

    /// Checked in against tickets that admit, overall and per section or
    /// ticket type.
    #[oai(path = "/api/v1/events/:id/checkins/stats", method = "get")]
    async fn stats(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
    ) -> Result<Json<CheckinStats>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        require_door(&state, auth.caller(), id.0).await?;
        let (overall, groups) = door::checkin_stats(&state.pool, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(CheckinStats::new(overall, groups)))
    }

    /// The event's Ed25519 public keys, for door devices that verify QR
    /// tokens offline. Every key listed is valid; rotation adds one.
    #[oai(path = "/api/v1/events/:id/checkin-keys", method = "get")]
    async fn keys(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
    ) -> Result<Json<CheckinKeys>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        require_door(&state, auth.caller(), id.0).await?;
        let keys = door::checkin_keys(&state.pool, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(CheckinKeys {
            event_id: id.0,
            algorithm: "Ed25519".to_owned(),
            keys: keys.into_iter().map(CheckinKey::from).collect(),
        }))
    }

    /// Rotate: add a key that signs every ticket issued from now on. Older
    /// keys stay listed and valid, so tickets already out keep scanning.
    /// The event's organizer (signed in) or an admin; 409 past 100 keys.
    #[oai(path = "/api/v1/events/:id/checkin-keys", method = "post")]
    async fn rotate(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<KeyAdded, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT }>> {
        let actor = auth.0.require_organizer()?;
        door::require_door(&state.pool, actor, id.0)
            .await
            .map_err(ApiError::from)?;
        let key = door::rotate_key(&state.pool, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(KeyAdded::Created(Json(key.into())))
    }

    /// Tickets revoked after `since` (0 for all), oldest first, at most
    /// `limit` (default and maximum 1,000). Pass the answer's `next_since`
    /// back as `since` to get only newer ones; a revocation never appears
    /// behind a cursor already handed out.
    #[oai(path = "/api/v1/events/:id/revocations", method = "get")]
    async fn revocations(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
        since: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<Revocations>, Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY }>> {
        let (since, limit) = (since.0.unwrap_or(0), limit.0.unwrap_or(MAX_REVOCATIONS));
        let mut errors = Vec::new();
        if since < 0 {
            errors.push(FieldError {
                field: "since".to_owned(),
                message: "must be 0 or more".to_owned(),
            });
        }
        if !(1..=MAX_REVOCATIONS).contains(&limit) {
            errors.push(FieldError {
                field: "limit".to_owned(),
                message: format!("must be 1-{MAX_REVOCATIONS}"),
            });
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors).into());
        }
        require_door(&state, auth.caller(), id.0).await?;
        let items = door::revocations(&state.pool, id.0, since, limit)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(Revocations::new(since, items)))
    }
}

const MAX_BATCH: usize = 1000;
const MAX_REVOCATIONS: i64 = 1000;

/// 403 for a plain user or a key without `checkin`; 404 unless the caller
/// (or the key's owner) organizes the event, or is an admin.
async fn require_door(state: &AppState, caller: &Caller, event: Uuid) -> Result<(), ApiError> {
    caller.require_scope(Scope::Checkin)?;
    caller.require(Role::Organizer)?;
    door::require_door(&state.pool, caller.actor(), event)
        .await
        .map_err(ApiError::from)
}

/// The device a scan is recorded under: as given, else the key's name or
/// the person's first name (the holder sees it on their ticket).
async fn device_of(
    state: &AppState,
    caller: &Caller,
    given: Option<String>,
) -> Result<String, ApiError> {
    if let Some(device) = given.filter(|d| !d.trim().is_empty()) {
        return Ok(device);
    }
    Ok(match &caller.credential {
        Credential::ApiKey { name, .. } => name.clone(),
        Credential::Session(_) => marquee_core::auth::find_by_id(&state.pool, caller.user_id)
            .await
            .map_err(ApiError::from)?
            .and_then(|u| u.name.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default(),
    })
}

fn check_scan_fields(
    at: &str,
    nonce: Option<&str>,
    device: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    if let Some(nonce) = nonce
        && !(1..=128).contains(&nonce.chars().count())
    {
        errors.push(FieldError {
            field: format!("{at}nonce"),
            message: "1-128 characters".to_owned(),
        });
    }
    if let Some(device) = device
        && device.chars().count() > 100
    {
        errors.push(FieldError {
            field: format!("{at}device"),
            message: "at most 100 characters".to_owned(),
        });
    }
}

/// Raw 32-byte keys as base64url, no padding.
fn encode_key(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}
