//! What kind of model: MF or LightGCN, its layers, embedding size and loss.

use serde::{Deserialize, Serialize};

use crate::kernels::RowGeometry;

/// The model family.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Matrix factorisation: final embeddings are the parameters (K = 0).
    Mf,
    /// LightGCN: final embeddings `E = Σ_{k=0..K} Â^k θ / (K + 1)`.
    Lightgcn,
}

/// The training loss.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Pointwise binary cross-entropy on labelled rows (the IFRU protocol).
    Bce,
    /// Bayesian personalised ranking on (user, positive, sampled negative) triples.
    Bpr,
}

/// A model's shape: family, propagation layers, embedding size and loss.
///
/// ```
/// use ifru::model::{LossKind, ModelKind, ModelSpec};
///
/// let spec = ModelSpec::new(ModelKind::Lightgcn, 2, 64, LossKind::Bce).unwrap();
/// assert_eq!(spec.propagation_layers(), 2);
/// assert_eq!(spec.layer_weights(), vec![1.0 / 3.0; 3]);
/// // MF has no propagation, whatever the layers given.
/// let mf = ModelSpec::new(ModelKind::Mf, 2, 64, LossKind::Bpr).unwrap();
/// assert_eq!(mf.propagation_layers(), 0);
/// // The kernels take embedding sizes that are multiples of 4.
/// assert!(ModelSpec::new(ModelKind::Mf, 0, 30, LossKind::Bce).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// MF or LightGCN.
    pub kind: ModelKind,
    /// LightGCN layers K (ignored, and stored as 0, for MF).
    pub layers: u32,
    /// Embedding size d.
    pub dim: u32,
    /// The training loss (BCE on labelled rows, BPR on implicit data).
    pub loss: LossKind,
}

impl ModelSpec {
    /// A spec after checking the embedding size against what the kernels take.
    pub fn new(kind: ModelKind, layers: u32, dim: u32, loss: LossKind) -> Result<Self, String> {
        RowGeometry::for_dim(dim).map_err(|e| e.to_string())?;
        let layers = match kind {
            ModelKind::Mf => 0,
            ModelKind::Lightgcn => layers,
        };
        Ok(ModelSpec {
            kind,
            layers,
            dim,
            loss,
        })
    }

    /// Propagation layers actually applied (0 for MF).
    pub fn propagation_layers(&self) -> u32 {
        match self.kind {
            ModelKind::Mf => 0,
            ModelKind::Lightgcn => self.layers,
        }
    }

    /// Layer weights `a_k = 1 / (K + 1)`, `K + 1` of them.
    pub fn layer_weights(&self) -> Vec<f32> {
        crate::kernels::propagate::uniform_weights(self.propagation_layers())
    }
}
