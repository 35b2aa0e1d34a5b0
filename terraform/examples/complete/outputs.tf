output "playback_base_url" {
  description = "Where viewers play: <url>/live/<stream>/index.m3u8 or <url>/t/<token>/live/<stream>/index.m3u8."
  value       = module.cdn.playback_base_url
}

output "key_value_store_arn" {
  description = "Put playback-token secrets here as playback-key:<kid>."
  value       = module.cdn.key_value_store_arn
}

output "helm_values" {
  description = "Values for helm upgrade -f: bucket, IRSA roles and playback URL."
  value = yamlencode({
    config = {
      s3 = {
        bucket = module.media.bucket_name
        region = module.media.bucket_region
      }
    }
    ingest = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = module.media.writer_role_arn } } }
    api    = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = module.media.writer_role_arn } } }
    origin = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = module.media.reader_role_arn } } }
    playbackBaseUrl = module.cdn.playback_base_url
  })
}
