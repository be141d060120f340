//! Money: integer pico-USD ([`Usd`]), so sums never drift, and a model call's [`Cost`] with
//! where it came from. It becomes a decimal JSON number only at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

/// pico-USD in one USD.
const PICO_PER_USD: u64 = 1_000_000_000_000;

/// An amount of money in integer pico-USD (10⁻¹² USD); serialized as a JSON number of USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(pub u64);

impl Usd {
    /// The amount in pico-USD.
    pub fn pico(self) -> u64 {
        self.0
    }

    /// The amount in USD as a float (exact to the float's precision; for display only).
    pub fn as_f64(self) -> f64 {
        // One division of two exact integers: the nearest double to the true decimal value,
        // which prints back as that decimal (0.0075, not 0.007499999…).
        self.0 as f64 / PICO_PER_USD as f64
    }

    /// Builds an amount from a float of USD, rounding to the nearest pico-USD.
    pub fn from_f64(usd: f64) -> Self {
        Self((usd.max(0.0) * PICO_PER_USD as f64).round() as u64)
    }

    /// Saturating sum.
    pub fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / PICO_PER_USD;
        let frac = self.0 % PICO_PER_USD;
        let digits = format!("{frac:012}");
        let trimmed = digits.trim_end_matches('0');
        // Always show cents; more digits only when they are not zero.
        let shown = if trimmed.len() < 2 {
            &digits[..2]
        } else {
            trimmed
        };
        write!(f, "${whole}.{shown}")
    }
}

impl Serialize for Usd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        f64::deserialize(d).map(Self::from_f64)
    }
}

/// The cost of one model call. Amounts are `None` when the model is unpriced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Cost {
    /// Input tokens (cached ones at the cache rate).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub input_usd: Option<Usd>,
    /// Output tokens (reasoning ones at the reasoning rate when there is one).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub output_usd: Option<Usd>,
    /// Both.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub total_usd: Option<Usd>,
    /// Whether the price table had this model.
    pub priced: bool,
    /// Where the figure came from.
    #[serde(default)]
    pub source: CostSource,
}

/// Where a cost came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// The bundled price table (LiteLLM's price data) on reported usage.
    #[default]
    PriceTable,
    /// A price from the configuration (`[prices."…"]`) on reported usage.
    Config,
    /// Reported by the provider with the call (OpenRouter's `usage.cost`): the charge itself.
    Provider,
    /// Prices on usage that was (partly) estimated with a tokenizer.
    Estimated,
}

impl CostSource {
    /// Every source.
    pub const ALL: [CostSource; 4] = [
        CostSource::PriceTable,
        CostSource::Config,
        CostSource::Provider,
        CostSource::Estimated,
    ];

    /// Its name, as serialized (`price_table`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CostSource::PriceTable => "price_table",
            CostSource::Config => "config",
            CostSource::Provider => "provider",
            CostSource::Estimated => "estimated",
        }
    }

    /// The source named `name` (as [`CostSource::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl Cost {
    /// A charge the provider reported (no split into input and output).
    pub fn reported(total: Usd) -> Self {
        Self {
            input_usd: None,
            output_usd: None,
            total_usd: Some(total),
            priced: true,
            source: CostSource::Provider,
        }
    }

    /// The cost of a model the table does not know.
    pub const UNPRICED: Cost = Cost {
        input_usd: None,
        output_usd: None,
        total_usd: None,
        priced: false,
        source: CostSource::PriceTable,
    };
}
