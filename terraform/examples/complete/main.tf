# Bucket, pod roles and CDN for one relay installation on EKS.
#
#   1. helm install relay charts/relay ... --set origin.service.type=LoadBalancer
#   2. terraform apply -var origin_domain_name=<the origin Service's hostname> ...
#   3. helm upgrade with the helm_values output (bucket, IRSA roles, playback URL).

locals {
  # Mirrors the chart's fullname: the release name when it contains "relay", else <release>-relay.
  service_account_base = strcontains(var.release_name, "relay") ? var.release_name : "${var.release_name}-relay"
}

module "media" {
  source = "../../modules/media-bucket"

  bucket_name                = var.bucket_name
  live_expiration_days       = 2
  recordings_expiration_days = var.recordings_expiration_days

  irsa = {
    oidc_provider_arn       = var.oidc_provider_arn
    namespace               = var.namespace
    writer_service_accounts = ["${local.service_account_base}-ingest", "${local.service_account_base}-api"]
    reader_service_accounts = ["${local.service_account_base}-origin"]
  }

  tags = { application = "relay" }
}

module "cdn" {
  source = "../../modules/cdn"

  name                 = "relay-${var.namespace}"
  origin_domain_name   = var.origin_domain_name
  origin_shield_region = var.region
  origin_secret        = var.origin_secret
  access_log_bucket    = var.access_log_bucket

  tags = { application = "relay" }
}
