//! The AWS regions offered in the region dropdowns: commercial, GovCloud and China.

use connector_sdk::schema::Choice;

const fn region(value: &'static str, label: &'static str) -> Choice {
    Choice { value, label }
}

/// Every region SQS and IAM Roles Anywhere run in, as of November 2026. A region not listed here
/// can be typed in the custom-region field.
pub const REGIONS: &[Choice] = &[
    region("us-east-1", "US East (N. Virginia)"),
    region("us-east-2", "US East (Ohio)"),
    region("us-west-1", "US West (N. California)"),
    region("us-west-2", "US West (Oregon)"),
    region("af-south-1", "Africa (Cape Town)"),
    region("ap-east-1", "Asia Pacific (Hong Kong)"),
    region("ap-east-2", "Asia Pacific (Taipei)"),
    region("ap-south-1", "Asia Pacific (Mumbai)"),
    region("ap-south-2", "Asia Pacific (Hyderabad)"),
    region("ap-southeast-1", "Asia Pacific (Singapore)"),
    region("ap-southeast-2", "Asia Pacific (Sydney)"),
    region("ap-southeast-3", "Asia Pacific (Jakarta)"),
    region("ap-southeast-4", "Asia Pacific (Melbourne)"),
    region("ap-southeast-5", "Asia Pacific (Malaysia)"),
    region("ap-southeast-6", "Asia Pacific (New Zealand)"),
    region("ap-southeast-7", "Asia Pacific (Thailand)"),
    region("ap-northeast-1", "Asia Pacific (Tokyo)"),
    region("ap-northeast-2", "Asia Pacific (Seoul)"),
    region("ap-northeast-3", "Asia Pacific (Osaka)"),
    region("ca-central-1", "Canada (Central)"),
    region("ca-west-1", "Canada West (Calgary)"),
    region("eu-central-1", "Europe (Frankfurt)"),
    region("eu-central-2", "Europe (Zurich)"),
    region("eu-west-1", "Europe (Ireland)"),
    region("eu-west-2", "Europe (London)"),
    region("eu-west-3", "Europe (Paris)"),
    region("eu-south-1", "Europe (Milan)"),
    region("eu-south-2", "Europe (Spain)"),
    region("eu-north-1", "Europe (Stockholm)"),
    region("il-central-1", "Israel (Tel Aviv)"),
    region("me-south-1", "Middle East (Bahrain)"),
    region("me-central-1", "Middle East (UAE)"),
    region("mx-central-1", "Mexico (Central)"),
    region("sa-east-1", "South America (São Paulo)"),
    region("us-gov-east-1", "AWS GovCloud (US-East)"),
    region("us-gov-west-1", "AWS GovCloud (US-West)"),
    region("cn-north-1", "China (Beijing)"),
    region("cn-northwest-1", "China (Ningxia)"),
];

/// The pattern a typed region must match: lowercase words joined by dashes, ending in a number.
pub const REGION_PATTERN: &str = "^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$";

/// What to tell a user whose typed region does not match [`REGION_PATTERN`].
pub const REGION_PATTERN_MESSAGE: &str =
    "is not a region name: type it in lowercase with dashes, like us-east-2";

/// Whether a region is in one of the China partitions, whose endpoints end in `.amazonaws.com.cn`.
pub fn is_china(region: &str) -> bool {
    region.starts_with("cn-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_region_matches_the_typed_region_pattern() {
        let pattern = regex_lite::Regex::new(REGION_PATTERN).unwrap();
        for choice in REGIONS {
            assert!(
                pattern.is_match(choice.value),
                "{} does not match",
                choice.value
            );
        }
        assert!(!pattern.is_match("US-EAST-2"));
        assert!(!pattern.is_match("us_east_2"));
    }

    #[test]
    fn lists_commercial_govcloud_and_china_regions_once_each() {
        let values: Vec<&str> = REGIONS.iter().map(|c| c.value).collect();
        for expected in [
            "us-east-1",
            "eu-central-1",
            "us-gov-west-1",
            "cn-northwest-1",
        ] {
            assert!(values.contains(&expected), "{expected} missing");
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), values.len(), "a region is listed twice");
    }
}
