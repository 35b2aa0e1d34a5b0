//! Areas and the devices in them.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_millis, Database};
use crate::crypto::random_hex;
use crate::error::CatalogError;
use crate::model::{Area, Device};

impl Database {
    pub async fn create_area(&self, name: &str, description: &str) -> Result<Area, CatalogError> {
        let area = Area {
            id: random_hex(16)?,
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now_millis(),
        };
        sqlx::query("INSERT INTO areas (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&area.id)
            .bind(&area.name)
            .bind(&area.description)
            .bind(area.created_at)
            .execute(self.pool())
            .await?;
        Ok(area)
    }

    pub async fn areas(&self) -> Result<Vec<Area>, CatalogError> {
        let rows = sqlx::query("SELECT id, name, description, created_at FROM areas ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(area).collect()
    }

    pub async fn area(&self, id: &str) -> Result<Area, CatalogError> {
        let row = sqlx::query("SELECT id, name, description, created_at FROM areas WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(area).transpose()?.ok_or(CatalogError::NotFound("area"))
    }

    pub async fn update_area(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Area, CatalogError> {
        let current = self.area(id).await?;
        let updated = Area {
            name: name.map_or(current.name.clone(), str::to_owned),
            description: description.map_or(current.description.clone(), str::to_owned),
            ..current
        };
        sqlx::query("UPDATE areas SET name = $1, description = $2 WHERE id = $3")
            .bind(&updated.name)
            .bind(&updated.description)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(updated)
    }

    pub async fn delete_area(&self, id: &str) -> Result<(), CatalogError> {
        self.area(id).await?;
        let devices: i64 = sqlx::query("SELECT COUNT(*) FROM devices WHERE area_id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        if devices > 0 {
            return Err(CatalogError::InUse("the area still has devices"));
        }
        sqlx::query("DELETE FROM areas WHERE id = $1").bind(id).execute(self.pool()).await.map_err(in_use)?;
        Ok(())
    }

    pub async fn create_device(&self, area_id: &str, name: &str, description: &str) -> Result<Device, CatalogError> {
        self.area(area_id).await?;
        let device = Device {
            id: random_hex(16)?,
            area_id: area_id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now_millis(),
        };
        sqlx::query("INSERT INTO devices (id, area_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&device.id)
            .bind(&device.area_id)
            .bind(&device.name)
            .bind(&device.description)
            .bind(device.created_at)
            .execute(self.pool())
            .await?;
        Ok(device)
    }

    pub async fn devices(&self, area_id: Option<&str>) -> Result<Vec<Device>, CatalogError> {
        let rows =
            match area_id {
                Some(area) => sqlx::query(
                    "SELECT id, area_id, name, description, created_at FROM devices WHERE area_id = $1 ORDER BY name",
                )
                .bind(area)
                .fetch_all(self.pool())
                .await?,
                None => {
                    sqlx::query("SELECT id, area_id, name, description, created_at FROM devices ORDER BY area_id, name")
                        .fetch_all(self.pool())
                        .await?
                }
            };
        rows.iter().map(device).collect()
    }

    pub async fn device(&self, id: &str) -> Result<Device, CatalogError> {
        let row = sqlx::query("SELECT id, area_id, name, description, created_at FROM devices WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(device).transpose()?.ok_or(CatalogError::NotFound("device"))
    }

    pub async fn update_device(
        &self,
        id: &str,
        area_id: Option<&str>,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Device, CatalogError> {
        let current = self.device(id).await?;
        if let Some(area) = area_id {
            self.area(area).await?;
        }
        let updated = Device {
            area_id: area_id.map_or(current.area_id.clone(), str::to_owned),
            name: name.map_or(current.name.clone(), str::to_owned),
            description: description.map_or(current.description.clone(), str::to_owned),
            ..current
        };
        sqlx::query("UPDATE devices SET area_id = $1, name = $2, description = $3 WHERE id = $4")
            .bind(&updated.area_id)
            .bind(&updated.name)
            .bind(&updated.description)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(updated)
    }

    pub async fn delete_device(&self, id: &str) -> Result<(), CatalogError> {
        self.device(id).await?;
        let streams: i64 = sqlx::query("SELECT COUNT(*) FROM streams WHERE device_id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        if streams > 0 {
            return Err(CatalogError::InUse("the device still has streams"));
        }
        sqlx::query("DELETE FROM devices WHERE id = $1").bind(id).execute(self.pool()).await.map_err(in_use)?;
        Ok(())
    }
}

/// A child added between the count and the delete trips the foreign key.
fn in_use(error: sqlx::Error) -> CatalogError {
    if db::is_foreign_key_violation(&error) {
        CatalogError::InUse("the object is still in use")
    } else {
        error.into()
    }
}

fn area(row: &AnyRow) -> Result<Area, CatalogError> {
    Ok(Area {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

fn device(row: &AnyRow) -> Result<Device, CatalogError> {
    Ok(Device {
        id: row.try_get("id")?,
        area_id: row.try_get("area_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}
