//! Objects in an S3 bucket (AWS, or any S3-protocol server: MinIO, Ceph,
//! R2, s3s-fs). Segments are about a megabyte, so they go up in one PUT;
//! only objects above `multipart_threshold` use a multipart upload.

use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use bytes::Bytes;

use crate::{validate_key, ObjectStore, StorageError, StoreFuture};

/// S3 forbids parts smaller than this, except the last one.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Where and how to reach the bucket. `Debug` hides the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket name. Required.
    pub bucket: String,
    /// Optional key prefix: object `live/a/seg1.m4s` is stored as
    /// `{prefix}/live/a/seg1.m4s`. Default: none.
    pub prefix: Option<String>,
    /// Region. Default: none, meaning the standard chain (`AWS_REGION`,
    /// profile, instance metadata), else `us-east-1`.
    pub region: Option<String>,
    /// Custom endpoint such as `http://127.0.0.1:9000` for MinIO, Ceph, R2
    /// or s3s-fs. Default: none (AWS).
    pub endpoint: Option<String>,
    /// `https://host/bucket/key` instead of `https://bucket.host/key`. Most
    /// self-hosted servers need it. Default: false.
    pub force_path_style: bool,
    /// Static access key id and secret. Both or neither; when absent the
    /// standard credential chain applies (environment, profile, web identity,
    /// container and instance metadata).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Objects larger than this use a multipart upload. Default: 16 MiB.
    pub multipart_threshold: usize,
    /// Part size of a multipart upload, at least 5 MiB. Default: 8 MiB.
    pub multipart_part_size: usize,
    /// Limit for one attempt of one request. Default: 30 s.
    pub attempt_timeout: Duration,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("force_path_style", &self.force_path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("multipart_threshold", &self.multipart_threshold)
            .field("multipart_part_size", &self.multipart_part_size)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

impl S3Config {
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: None,
            region: None,
            endpoint: None,
            force_path_style: false,
            access_key_id: None,
            secret_access_key: None,
            multipart_threshold: 16 * 1024 * 1024,
            multipart_part_size: 8 * 1024 * 1024,
            attempt_timeout: Duration::from_secs(30),
        }
    }

    pub fn validate(&self) -> Result<(), StorageError> {
        let invalid = |reason: String| Err(StorageError::Config(reason));
        if self.bucket.is_empty() {
            return invalid("bucket must be set".into());
        }
        if let Some(prefix) = self.prefix.as_deref().filter(|prefix| !prefix.is_empty()) {
            if validate_key(prefix).is_err() {
                return invalid(format!("prefix {prefix:?} must be plain `/`-separated names"));
            }
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return invalid("access key id and secret access key go together".into());
        }
        if self.multipart_part_size < MIN_PART_SIZE {
            return invalid(format!("multipart part size must be at least {MIN_PART_SIZE} bytes"));
        }
        if self.attempt_timeout.is_zero() {
            return invalid("attempt timeout must be positive".into());
        }
        Ok(())
    }

    fn full_key(&self, key: &str) -> String {
        match self.prefix.as_deref() {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}/{key}"),
            _ => key.to_owned(),
        }
    }
}

/// An `ObjectStore` on one bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    config: S3Config,
}

impl S3Store {
    /// Builds the client without contacting the bucket. Credentials are
    /// resolved on first use; with `region` unset, the region chain may ask
    /// instance metadata here.
    pub async fn connect(config: S3Config) -> Result<Self, StorageError> {
        config.validate()?;
        // rustls with ring: the SDK's own default client would build aws-lc.
        let http_client =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(config.attempt_timeout)
            .build();
        // A few quick retries; the storage writer backs off and retries for longer.
        let retries = RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(2));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(timeouts)
            .retry_config(retries);
        loader = match &config.region {
            Some(region) => loader.region(Region::new(region.clone())),
            None => loader.region(
                aws_config::meta::region::RegionProviderChain::default_provider()
                    .or_else(Region::from_static("us-east-1")),
            ),
        };
        if let (Some(key_id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(key_id, secret, None, None, "relay-config"));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.force_path_style)
            // Checksums only where S3 demands them: several S3-compatible
            // servers reject the newer default trailers; TLS covers transit.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(Self { client: Client::from_conf(builder.build()), config })
    }

    /// The SDK client, for operations the trait does not cover (e.g. creating
    /// a bucket in a development setup).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    async fn put_single(&self, full_key: &str, data: Bytes) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.config.bucket)
            .key(full_key)
            .content_type(content_type(full_key))
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|error| request_error("PutObject", full_key, error))?;
        Ok(())
    }

    async fn put_multipart(&self, full_key: &str, data: Bytes) -> Result<(), StorageError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(full_key)
            .content_type(content_type(full_key))
            .send()
            .await
            .map_err(|error| request_error("CreateMultipartUpload", full_key, error))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| StorageError::Backend(format!("CreateMultipartUpload {full_key}: no upload id")))?
            .to_owned();
        let uploaded = self.upload_parts(full_key, &upload_id, data).await;
        if let Err(error) = uploaded {
            // Parts of an unfinished upload are billed until aborted.
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.config.bucket)
                .key(full_key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(abort_error) = aborted {
                tracing::warn!(key = full_key, error = %DisplayErrorContext(&abort_error), "multipart abort failed");
            }
            return Err(error);
        }
        Ok(())
    }

    async fn upload_parts(&self, full_key: &str, upload_id: &str, data: Bytes) -> Result<(), StorageError> {
        let mut completed = Vec::new();
        let mut offset = 0;
        while offset < data.len() {
            let end = data.len().min(offset + self.config.multipart_part_size);
            let part_number = i32::try_from(completed.len() + 1)
                .map_err(|_| StorageError::Backend(format!("{full_key}: too many parts")))?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.config.bucket)
                .key(full_key)
                .upload_id(upload_id)
                .part_number(part_number)
                .body(ByteStream::from(data.slice(offset..end)))
                .send()
                .await
                .map_err(|error| request_error("UploadPart", full_key, error))?;
            completed.push(CompletedPart::builder().part_number(part_number).set_e_tag(part.e_tag).build());
            offset = end;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.config.bucket)
            .key(full_key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await
            .map_err(|error| request_error("CompleteMultipartUpload", full_key, error))?;
        Ok(())
    }
}

impl ObjectStore for S3Store {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            let full_key = self.config.full_key(key);
            if data.len() > self.config.multipart_threshold {
                self.put_multipart(&full_key, data).await
            } else {
                self.put_single(&full_key, data).await
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            validate_key(key)?;
            let full_key = self.config.full_key(key);
            let response = self.client.get_object().bucket(&self.config.bucket).key(&full_key).send().await;
            let output = match response {
                Ok(output) => output,
                Err(error) if error.as_service_error().is_some_and(|service| service.is_no_such_key()) => {
                    return Ok(None)
                }
                Err(error) if http_status(&error) == Some(404) => return Ok(None),
                Err(error) => return Err(request_error("GetObject", &full_key, error)),
            };
            let body = output
                .body
                .collect()
                .await
                .map_err(|error| StorageError::Backend(format!("GetObject {full_key}: reading body: {error}")))?;
            Ok(Some(body.into_bytes()))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            let full_key = self.config.full_key(key);
            match self.client.delete_object().bucket(&self.config.bucket).key(&full_key).send().await {
                Ok(_) => Ok(()),
                Err(error) if http_status(&error) == Some(404) => Ok(()),
                Err(error) => Err(request_error("DeleteObject", &full_key, error)),
            }
        })
    }
}

fn http_status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|response| response.status().as_u16())
}

fn request_error<E>(operation: &str, full_key: &str, error: SdkError<E, HttpResponse>) -> StorageError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let status = http_status(&error).map(|status| format!(" (HTTP {status})")).unwrap_or_default();
    StorageError::Backend(format!("{operation} {full_key}{status}: {}", DisplayErrorContext(&error)))
}

/// Lets a bucket serve objects directly (e.g. behind a CDN) with the right type.
fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, extension)| extension) {
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_get_the_prefix() {
        let mut config = S3Config::new("media");
        assert_eq!(config.full_key("live/a/seg1.m4s"), "live/a/seg1.m4s");
        config.prefix = Some("relay".into());
        assert_eq!(config.full_key("live/a/seg1.m4s"), "relay/live/a/seg1.m4s");
    }

    #[test]
    fn validation_catches_mistakes() {
        assert!(S3Config::new("media").validate().is_ok());
        assert!(S3Config::new("").validate().is_err());
        let mut config = S3Config::new("media");
        config.access_key_id = Some("key".into());
        assert!(config.validate().is_err());
        let mut config = S3Config::new("media");
        config.prefix = Some("../up".into());
        assert!(config.validate().is_err());
        let mut config = S3Config::new("media");
        config.multipart_part_size = 1024;
        assert!(config.validate().is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let mut config = S3Config::new("media");
        config.secret_access_key = Some("hunter2".into());
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type("live/a/seg1.m4s"), "video/iso.segment");
        assert_eq!(content_type("live/a/init0.mp4"), "video/mp4");
        assert_eq!(content_type("live/a/x"), "application/octet-stream");
    }
}
