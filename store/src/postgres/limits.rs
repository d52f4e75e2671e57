//! Model limits held across a deployment's processes (`flow_vm::SharedLimits`):
//! a slot per request in flight (`concurrency`, exact), a row per request
//! started (`rpm`, exact over any sliding 60 s), and pauses after a 429.
//! Each take is one transaction under an advisory lock on the model, so two
//! processes never both take the last slot. A slot whose process died
//! expires after its hold (the model's timeout and a margin).

use super::PgStore;
use crate::now_ms;
use flow_vm::{SharedLimits, SharedModel, StoreError, Taken};
use futures::future::BoxFuture;
use std::time::Duration;

/// A minute, in milliseconds (the `rpm` window).
const MINUTE_MS: i64 = 60_000;

impl PgStore {
    async fn take(&self, model: SharedModel<'_>) -> Result<Taken, StoreError> {
        let now = now_ms();
        if model.concurrency.is_none() && model.rpm.is_none() {
            // No limits to count: only a pause can hold the call back (a read, no lock).
            let paused = self
                .query_opt("SELECT until_ms FROM model_pauses WHERE model = $1 AND until_ms > $2", &[&model.key, &now])
                .await?;
            return Ok(match paused {
                Some(row) => Taken::Wait(Duration::from_millis((row.get::<_, i64>(0) - now).max(0) as u64)),
                None => Taken::Slot(0),
            });
        }
        let mut client = self.client().await?;
        let e = |e: tokio_postgres::Error| self.error(&e);
        let tx = client.transaction().await.map_err(e)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('flow-model:' || $1))", &[&model.key]).await.map_err(e)?;
        let paused: Option<i64> = tx
            .query_opt("SELECT until_ms FROM model_pauses WHERE model = $1 AND until_ms > $2", &[&model.key, &now])
            .await
            .map_err(e)?
            .map(|r| r.get(0));
        if let Some(until) = paused {
            return Ok(Taken::Wait(Duration::from_millis((until - now).max(0) as u64)));
        }
        if let Some(limit) = model.concurrency {
            tx.execute("DELETE FROM model_slots WHERE model = $1 AND expires_ms < $2", &[&model.key, &now])
                .await
                .map_err(e)?;
            let held: i64 = tx
                .query_one("SELECT count(*) FROM model_slots WHERE model = $1", &[&model.key])
                .await
                .map_err(e)?
                .get(0);
            if held >= limit as i64 {
                return Ok(Taken::Wait(Duration::from_millis(50)));
            }
        }
        if let Some(limit) = model.rpm {
            let since = now - MINUTE_MS;
            tx.execute("DELETE FROM model_requests WHERE model = $1 AND at_ms <= $2", &[&model.key, &since])
                .await
                .map_err(e)?;
            let window = tx
                .query_one("SELECT count(*), min(at_ms) FROM model_requests WHERE model = $1", &[&model.key])
                .await
                .map_err(e)?;
            let (count, oldest): (i64, Option<i64>) = (window.get(0), window.get(1));
            if count >= limit as i64 {
                let free_at = oldest.unwrap_or(now) + MINUTE_MS;
                return Ok(Taken::Wait(Duration::from_millis((free_at - now).max(1) as u64)));
            }
            tx.execute("INSERT INTO model_requests (model, at_ms) VALUES ($1, $2)", &[&model.key, &now])
                .await
                .map_err(e)?;
        }
        let expires = now + model.hold.as_millis() as i64;
        let slot: i64 = match model.concurrency {
            Some(_) => tx
                .query_one(
                    "INSERT INTO model_slots (model, expires_ms) VALUES ($1, $2) RETURNING slot",
                    &[&model.key, &expires],
                )
                .await
                .map_err(e)?
                .get(0),
            None => 0,
        };
        tx.commit().await.map_err(e)?;
        Ok(Taken::Slot(slot))
    }
}

impl SharedLimits for PgStore {
    fn try_take<'a>(&'a self, model: SharedModel<'a>) -> BoxFuture<'a, Result<Taken, StoreError>> {
        Box::pin(self.take(model))
    }

    fn give_back<'a>(&'a self, key: &'a str, slot: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if slot > 0 {
                let _ = self.execute("DELETE FROM model_slots WHERE slot = $1 AND model = $2", &[&slot, &key]).await;
            }
        })
    }

    fn pause<'a>(&'a self, key: &'a str, until_ms: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self
                .execute(
                    "INSERT INTO model_pauses (model, until_ms) VALUES ($1, $2)
                     ON CONFLICT (model) DO UPDATE SET until_ms = greatest(model_pauses.until_ms, excluded.until_ms)",
                    &[&key, &until_ms],
                )
                .await;
        })
    }
}
