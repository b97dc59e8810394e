//! The scalar forms people type for a section whose one essential key is a name:
//! `provider: sim` for `provider: {name: sim}`, `blueprint: nanomon` for `blueprint: {name:
//! nanomon}`. The mapping form keeps its own errors (unknown keys, wrong types, with their path).

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::model::{BlueprintConfig, ProviderConfig, ProviderName};

/// A section that can be written as its name alone.
pub trait Named: Sized {
    /// What the error says was expected, in the user's words.
    const EXPECTED: &'static str;
    fn from_name<E: de::Error>(name: &str) -> Result<Self, E>;
}

impl Named for ProviderConfig {
    const EXPECTED: &'static str =
        "a provider name (`provider: sim`) or a mapping (`provider: {name: sim, ...}`)";
    fn from_name<E: de::Error>(name: &str) -> Result<Self, E> {
        let de: StrDeserializer<'_, E> = name.into_deserializer();
        Ok(ProviderConfig {
            name: Some(ProviderName::deserialize(de)?),
            ..Default::default()
        })
    }
}

impl Named for BlueprintConfig {
    const EXPECTED: &'static str =
        "a blueprint name (`blueprint: nanomon`) or a mapping (`blueprint: {name: nanomon, values: ...}`)";
    fn from_name<E: de::Error>(name: &str) -> Result<Self, E> {
        Ok(BlueprintConfig {
            name: name.to_string(),
            values: Default::default(),
        })
    }
}

struct NamedVisitor<T>(PhantomData<T>);

impl<'de, T: Named + Deserialize<'de>> Visitor<'de> for NamedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_name(v)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// For a field of type `T`.
pub fn name_or_map<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Named + Deserialize<'de>,
{
    d.deserialize_any(NamedVisitor(PhantomData))
}

/// For a field of type `Option<T>` (`null` is None).
pub fn optional_name_or_map<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Named + Deserialize<'de>,
{
    struct OptionVisitor<T>(PhantomData<T>);
    impl<'de, T: Named + Deserialize<'de>> Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(T::EXPECTED)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            T::from_name(v).map(Some)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(OptionVisitor(PhantomData))
}

/// The schema of `provider`: a name or the mapping.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ProviderShorthand {
    Name(ProviderName),
    Full(Box<ProviderConfig>),
}

/// The schema of `blueprint`: a name or the mapping.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum BlueprintShorthand {
    Name(String),
    Full(BlueprintConfig),
}

#[cfg(test)]
mod tests {
    use super::super::model::KatConfig;

    #[test]
    fn a_name_alone_stands_for_the_section() {
        let c: KatConfig = serde_yaml_ng::from_str("provider: sim\nblueprint: nanomon\n").unwrap();
        assert_eq!(c.provider.name, Some(super::ProviderName::Sim));
        assert_eq!(c.blueprint.unwrap().name, "nanomon");
        let c: KatConfig =
            serde_yaml_ng::from_str("provider: {name: eks, region: eu-west-1}\nblueprint: null\n")
                .unwrap();
        assert_eq!(c.provider.region.as_deref(), Some("eu-west-1"));
        assert!(c.blueprint.is_none());
    }

    #[test]
    fn errors_speak_of_names_and_mappings_not_rust_types() {
        for text in ["provider: [sim]\n", "blueprint: 3\n", "provider: gke\n"] {
            let e = serde_yaml_ng::from_str::<KatConfig>(text)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("struct"), "{text}: {e}");
            assert!(!e.contains("Config"), "{text}: {e}");
        }
    }
}
