"""Terraform modules: cross-file consistency, and the caching and storage rules they encode."""

import fnmatch
import re

import pytest

from conftest import REPO, TERRAFORM
from terraform_model import META_ARGUMENTS, load_module, module_directories, strip_interpolation, unquote

MODULE_DIRS = module_directories(TERRAFORM)
BUCKET = TERRAFORM / "modules" / "media-bucket"
CDN = TERRAFORM / "modules" / "cdn"


def test_every_expected_module_is_present():
    names = {directory.relative_to(TERRAFORM).as_posix() for directory in MODULE_DIRS}
    assert names == {"modules/media-bucket", "modules/cdn", "examples/complete"}


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=lambda path: path.relative_to(TERRAFORM).as_posix())
def test_references_resolve(directory):
    module = load_module(directory)
    problems = []
    for kind, name, attribute in module.references():
        if kind == "var" and name not in module.variables:
            problems.append(f"undeclared variable var.{name}")
        elif kind == "local" and name not in module.locals:
            problems.append(f"undeclared local.{name}")
        elif kind == "resource" and name not in module.resources:
            problems.append(f"undeclared resource {name}")
        elif kind == "data" and name not in module.data:
            problems.append(f"undeclared data.{name}")
        elif kind == "module":
            if name not in module.modules:
                problems.append(f"undeclared module.{name}")
            elif attribute is not None:
                called = load_module(directory / unquote(module.modules[name]["source"]))
                if attribute not in called.outputs:
                    problems.append(f"module.{name}.{attribute}: no such output")
    assert not problems, sorted(set(problems))


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=lambda path: path.relative_to(TERRAFORM).as_posix())
def test_module_calls_pass_declared_inputs(directory):
    module = load_module(directory)
    for name, call in module.modules.items():
        source = directory / unquote(call["source"])
        assert source.is_dir(), f"module {name}: {source} does not exist"
        called = load_module(source)
        given = {key for key in call if key not in META_ARGUMENTS and not key.startswith("__")}
        assert given <= set(called.variables), f"module {name}: unknown inputs {given - set(called.variables)}"
        required = {variable for variable, body in called.variables.items() if "default" not in body}
        assert required <= given, f"module {name}: missing required inputs {required - given}"


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=lambda path: path.relative_to(TERRAFORM).as_posix())
def test_declarations_are_documented_and_typed(directory):
    module = load_module(directory)
    for name, body in module.variables.items():
        assert unquote(body.get("description", "")), f"variable {name} has no description"
        assert "type" in body, f"variable {name} has no type"
    for name, body in module.outputs.items():
        assert unquote(body.get("description", "")), f"output {name} has no description"


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=lambda path: path.relative_to(TERRAFORM).as_posix())
def test_versions_are_constrained(directory):
    (terraform,) = load_module(directory).terraform
    assert unquote(terraform["required_version"]).startswith(">= 1.5")
    (providers,) = terraform["required_providers"]
    aws = providers["aws"]
    assert unquote(aws["source"]) == "hashicorp/aws"
    constraint = unquote(aws["version"])
    assert ">=" in constraint and "<" in constraint.replace(">=", ""), constraint


def lifecycle_rules():
    config = load_module(BUCKET).resource("aws_s3_bucket_lifecycle_configuration.this")
    rules = {unquote(rule["id"]): rule for rule in config["rule"]}
    for dynamic in config.get("dynamic", []):
        content = dynamic['"rule"']["content"][0]
        rules[unquote(content["id"])] = {**content, "for_each": dynamic['"rule"']["for_each"]}
    return rules


def test_live_and_recordings_expire_by_prefix():
    module = load_module(BUCKET)
    rules = lifecycle_rules()
    live = rules["expire-live"]
    assert unquote(live["filter"][0]["prefix"]) == "${local.key_root}live/"
    assert strip_interpolation(live["expiration"][0]["days"]) == "var.live_expiration_days"
    # Two days: the longest DVR window (24 h) plus a day of margin.
    assert module.variables["live_expiration_days"]["default"] == 2
    recordings = rules["expire-recordings"]
    assert unquote(recordings["filter"][0]["prefix"]) == "${local.key_root}${var.recordings_prefix}/"
    assert "var.recordings_expiration_days" in recordings["for_each"]
    assert unquote(module.variables["recordings_prefix"]["default"]) == "recordings"
    abort = rules["abort-incomplete-multipart-uploads"]
    assert strip_interpolation(abort["abort_incomplete_multipart_upload"][0]["days_after_initiation"]) == (
        "var.abort_incomplete_multipart_days"
    )
    # The server writes {prefix}/{key}; the rules' key root must add the same slash.
    assert strip_interpolation(module.locals["key_root"]) == 'var.key_prefix == "" ? "" : "${var.key_prefix}/"'


def test_bucket_is_private_encrypted_and_unversioned():
    module = load_module(BUCKET)
    block = module.resource("aws_s3_bucket_public_access_block.this")
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[setting] is True, setting
    versioning = module.resource("aws_s3_bucket_versioning.this")
    assert unquote(versioning["versioning_configuration"][0]["status"]) == "Disabled"
    encryption = module.resource("aws_s3_bucket_server_side_encryption_configuration.this")
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert "AES256" in default["sse_algorithm"] and "aws:kms" in default["sse_algorithm"]
    ownership = module.resource("aws_s3_bucket_ownership_controls.this")
    assert unquote(ownership["rule"][0]["object_ownership"]) == "BucketOwnerEnforced"


def policy_statements(name):
    document = load_module(BUCKET).data[f"aws_iam_policy_document.{name}"]
    return {unquote(statement["sid"]): statement for statement in document["statement"]}


def test_pod_policies_are_least_privilege():
    writer = policy_statements("writer")
    assert {unquote(action) for action in writer["ReadWriteObjects"]["actions"]} == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    reader = policy_statements("reader")
    assert {unquote(action) for action in reader["ReadObjects"]["actions"]} == {"s3:GetObject"}
    for statements in (writer, reader):
        objects = statements.get("ReadWriteObjects") or statements["ReadObjects"]
        assert [strip_interpolation(resource) for resource in objects["resources"]] == ["local.objects_arn"]
        listing = {unquote(action) for action in statements["ListKeys"]["actions"]}
        assert listing <= {"s3:ListBucket", "s3:ListBucketMultipartUploads"}
        assert not any("*" in unquote(action) for statement in statements.values() for action in statement["actions"])
    objects_arn = load_module(BUCKET).locals["objects_arn"]
    assert "${local.key_root}*" in objects_arn


def cache_policy(name):
    policy = load_module(CDN).resource(f"aws_cloudfront_cache_policy.{name}")
    return policy["parameters_in_cache_key_and_forwarded_to_origin"][0]


def resolved_items(config, key, locals_):
    """The items list of a headers/query strings config, with local.X resolved."""
    items = config[key][0]["items"]
    if isinstance(items, str):
        items = locals_[strip_interpolation(items).removeprefix("local.")]
    return {unquote(item) for item in items}


def test_playlists_are_keyed_by_blocking_reload_query_strings():
    module = load_module(CDN)
    locals_ = module.locals
    playlist = cache_policy("playlist")
    query = playlist["query_strings_config"][0]
    assert unquote(query["query_string_behavior"]) == "whitelist"
    assert resolved_items(query, "query_strings", locals_) == {"_HLS_msn", "_HLS_part", "_HLS_skip"}
    policy = module.resource("aws_cloudfront_cache_policy.playlist")
    # min 0 and default 0: the origin's Cache-Control decides (max-age=0 live, 60 blocking).
    assert policy["min_ttl"] == 0 and policy["default_ttl"] == 0
    assert unquote(module.variables["playlist_max_ttl"]["default"]) >= 60
    media = cache_policy("media")
    assert unquote(media["query_strings_config"][0]["query_string_behavior"]) == "none"
    assert module.variables["media_max_ttl"]["default"] == 31536000


def test_dvr_time_ranges_reach_the_origin_and_the_cache_key():
    """dvr.m3u8?start=&end= selects a range: without start and end in the key every range would
    get the rolling window. Only the DVR behavior keys on them."""
    locals_ = load_module(CDN).locals
    dvr = cache_policy("dvr")["query_strings_config"][0]
    assert unquote(dvr["query_string_behavior"]) == "whitelist"
    items = strip_interpolation(dvr["query_strings"][0]["items"])
    assert items == "concat(local.dvr_range_query, local.blocking_reload_query)", items
    assert {unquote(item) for item in locals_["dvr_range_query"]} == {"start", "end"}
    playlist = cache_policy("playlist")["query_strings_config"][0]
    assert not {"start", "end"} & resolved_items(playlist, "query_strings", locals_)


def test_token_stays_out_of_every_cache_key():
    module = load_module(CDN)
    token_header = unquote(module.locals["token_header"])
    verified_header = unquote(module.locals["verified_header"])
    for name in ("playlist", "dvr", "media"):
        headers = cache_policy(name)["headers_config"][0]
        assert unquote(headers["header_behavior"]) == "whitelist"
        items = [strip_interpolation(item) for item in headers["headers"][0]["items"]]
        assert items == ["local.verified_header"], items
    for policy in module.resources:
        if policy.startswith("aws_cloudfront_cache_policy."):
            text = str(module.resources[policy])
            assert "token_header" not in text and token_header not in text, policy
            assert '"allViewer"' not in text and '"all"' not in text, policy
    forwarded = module.resource("aws_cloudfront_origin_request_policy.relay")["headers_config"][0]
    assert [strip_interpolation(item) for item in forwarded["headers"][0]["items"]] == ["local.token_header"]
    assert (token_header, verified_header) == ("x-playback-token", "x-playback-verified")


def behaviors():
    distribution = load_module(CDN).resource("aws_cloudfront_distribution.this")
    locals_ = load_module(CDN).locals
    ordered = [
        {
            "path": unquote(item["path_pattern"]),
            "function": strip_interpolation(item["function_association"][0]["function_arn"]),
            "cache_policy": strip_interpolation(item["cache_policy_id"]),
        }
        for item in distribution["ordered_cache_behavior"]
    ]
    content = distribution["dynamic"][0]['"ordered_cache_behavior"']["content"][0]
    assert strip_interpolation(content["path_pattern"]) == "ordered_cache_behavior.value.path"
    for entry in locals_["behaviors"]:
        ordered.append(
            {
                "path": unquote(entry["path"]),
                "function": strip_interpolation(content["function_association"][0]["function_arn"]),
                "cache_policy": strip_interpolation(entry["cache_policy"]),
            }
        )
    default = distribution["default_cache_behavior"][0]
    return ordered, strip_interpolation(default["function_association"][0]["function_arn"])


def first_match(ordered, path):
    """CloudFront's pattern matching: * is any run of characters, first behavior wins."""
    for behavior in ordered:
        if fnmatch.fnmatchcase(path, behavior["path"]):
            return behavior
    return None


def test_every_viewer_path_reaches_the_right_behavior():
    ordered, default_function = behaviors()
    token = "/t/eyJhbGciOiJIUzI1NiJ9.e30.c2ln"
    playlist = "aws_cloudfront_cache_policy.playlist.id"
    media = "aws_cloudfront_cache_policy.media.id"
    verify = "aws_cloudfront_function.playback_token.arn"
    expectations = {
        f"{token}/live/main/index.m3u8": (playlist, verify),
        f"{token}/live/main/seg12.3.m4s": (media, verify),
        f"{token}/live/main/init0.mp4": (media, verify),
        "/live/main/media.m3u8": (playlist, verify),
        "/live/main/dvr.m3u8": ("aws_cloudfront_cache_policy.dvr.id", verify),
        f"{token}/live/main/dvr.m3u8": ("aws_cloudfront_cache_policy.dvr.id", verify),
        "/live/main/seg12.m4s": (media, verify),
        "/internal/v1/streams/main/publisher": (
            "aws_cloudfront_cache_policy.no_cache.id",
            "aws_cloudfront_function.deny_internal.arn",
        ),
    }
    for path, (policy, function) in expectations.items():
        behavior = first_match(ordered, path)
        assert behavior is not None, path
        assert (behavior["cache_policy"], behavior["function"]) == (policy, function), path
    # The player page falls through to the default behavior, which also strips forged headers.
    assert first_match(ordered, "/player.html") is None
    assert default_function == verify


def test_the_cdn_sends_the_origin_secret_under_the_header_the_origin_checks():
    module = load_module(CDN)
    gate = (REPO / "services" / "origin" / "src" / "cdn_gate.rs").read_text()
    (server_header,) = re.findall(r'ORIGIN_SECRET_HEADER: &str = "([^"]+)"', gate)
    assert unquote(module.locals["origin_secret_header"]) == server_header
    origin = module.resource("aws_cloudfront_distribution.this")["origin"][0]
    block = origin["dynamic"][0]['"custom_header"']
    assert strip_interpolation(block["for_each"]) == "var.origin_secret == null ? [] : [var.origin_secret]"
    content = block["content"][0]
    assert strip_interpolation(content["name"]) == "local.origin_secret_header"
    assert strip_interpolation(content["value"]) == "custom_header.value"
    variable = module.variables["origin_secret"]
    assert variable["sensitive"] is True and variable["default"] is None


def test_access_logs_are_optional_and_leave_cookies_out():
    module = load_module(CDN)
    distribution = module.resource("aws_cloudfront_distribution.this")
    (block,) = [item['"logging_config"'] for item in distribution["dynamic"] if '"logging_config"' in item]
    assert strip_interpolation(block["for_each"]) == "var.access_log_bucket == null ? [] : [var.access_log_bucket]"
    assert block["content"][0]["include_cookies"] is False
    assert module.variables["access_log_bucket"]["default"] is None


def test_the_example_variables_file_sets_only_declared_variables():
    example = TERRAFORM / "examples" / "complete"
    declared = set(load_module(example).variables)
    assigned = set(re.findall(r"^#?\s*([a-z_]+)\s*=", (example / "terraform.tfvars.example").read_text(), re.M))
    assert assigned and assigned <= declared, assigned - declared
    required = {name for name, variable in load_module(example).variables.items() if "default" not in variable}
    assert required <= assigned, required - assigned
