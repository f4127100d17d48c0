//! Loading the weights of a model saved by Keras 3: `model.save("m.keras")`
//! and `model.save_weights("m.weights.h5")`.
//!
//! Keras 3 writes weights as HDF5 (`model.weights.h5`, also the member of
//! that name inside a `.keras` zip). Every layer that tracks variables has
//! a group `layers/<key>` whose `vars` group holds its variables as
//! datasets `0, 1, …` in the layer's creation order (`kernel`, `bias`; an
//! LSTM's `kernel`, `recurrent_kernel`, `bias`) and whose attribute `name`
//! is the layer's name. Wrapped layers sit below their wrapper: an RNN's
//! cell in `cell/vars`, a `TimeDistributed` layer in `layer/vars`, a model
//! used as a layer in `layers/<key>/…` again. `<key>` is the snake-cased
//! class name, numbered per class in the model's layer list (`dense`,
//! `dense_1`), which is how kiln names layers too; the `name` attribute is
//! what Keras shows in its summary (`dense_7` in a session that made other
//! layers before, or a name the user gave).
//!
//! Matching: each of the model's layers with parameters is found by its
//! name among the file's layer names, or, when some name is not there, by
//! its name among the group keys (so a file from a busy Keras session
//! loads into the same architecture built in kiln). Inside a layer, the
//! variables are taken in order and every shape is checked. Layers of the
//! file with weights that the model lacks, and the other way round, are
//! errors; an `optimizer` group (a compiled model's `.keras`) is ignored.
//! Nothing is written to the model unless the whole file fits.
//!
//! Lying headers: the HDF5 reader is limited to reading no more than the
//! model's largest parameter at once and to object headers no larger than
//! the file, and a `.keras` member is read only up to a size bounded by
//! the model's parameter count, so a corrupt file cannot make the loader
//! allocate more than a few times the model's size.

use super::weights::set_weights;
use super::FileProblem;
use crate::error::Result;
use crate::network::Network;
use hdf5_reader::group::Group;
use hdf5_reader::{Dataset, Datatype, Hdf5File, OpenOptions};
use std::io::Read;
use std::path::Path;

/// The first bytes of an HDF5 file (its superblock signature).
const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";
/// The first bytes of a zip archive (a local file header).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The weights member of a `.keras` archive.
const KERAS_WEIGHTS_MEMBER: &str = "model.weights.h5";
/// Groups nested deeper than this are not a Keras file (and a corrupt
/// file whose groups form a cycle must not recurse forever).
const MAX_DEPTH: usize = 24;
/// At most this many groups are visited.
const MAX_GROUPS: usize = 100_000;

/// Loads the weights of a model saved by Keras 3 from `path`: a `.keras`
/// archive (`model.save`) or a `.weights.h5` file (`model.save_weights`);
/// the kind is told by the file's first bytes. Layers are matched by name,
/// variables by order within their layer, and every shape is checked; on
/// any problem the network is unchanged and the error names the layer.
///
/// ```no_run
/// # kiln::model! { struct TextClassifier { input t: [u32; 16]; let e = Embedding(4, 64)(t);
/// #   let l = LSTM(64)(e); let p = Dense(1, activation = sigmoid)(l); output p; } }
/// let mut net = TextClassifier::new(0);
/// kiln::io::load_keras_weights(&mut net, "text_classifier.keras")?;
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn load_keras_weights<N: Network + ?Sized>(network: &mut N, path: impl AsRef<Path>) -> Result<()> {
    super::read_file(path.as_ref(), |bytes| load_keras_weights_from_bytes(network, bytes))
}

/// [`load_keras_weights`] from the bytes of a `.keras` archive or of a
/// `.weights.h5` file.
pub fn load_keras_weights_from_bytes<N: Network + ?Sized>(network: &mut N, bytes: &[u8]) -> Result<(), FileProblem> {
    if bytes.starts_with(ZIP_MAGIC) {
        load_keras_archive_bytes(network, bytes)
    } else if bytes.starts_with(HDF5_MAGIC) {
        load_keras_h5_bytes(network, bytes)
    } else {
        let start = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
        Err(FileProblem::KerasFile(format!(
            "neither a .keras archive nor an HDF5 weights file (starts with [{start}])"
        )))
    }
}

/// Loads the `model.weights.h5` member of a `.keras` archive's bytes.
pub fn load_keras_archive_bytes<N: Network + ?Sized>(network: &mut N, bytes: &[u8]) -> Result<(), FileProblem> {
    let corrupt = |e: zip::result::ZipError| FileProblem::KerasFile(format!("not a readable .keras archive ({e})"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(corrupt)?;
    let mut member = archive.by_name(KERAS_WEIGHTS_MEMBER).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => {
            FileProblem::KerasFile(format!("the archive has no `{KERAS_WEIGHTS_MEMBER}`"))
        }
        e => corrupt(e),
    })?;
    // The member's size as its header claims it is not trusted: read at
    // most what the model's weights (and an optimizer's state) can take.
    let limit = weights_file_limit(network);
    let claimed = member.size();
    if claimed > limit {
        return Err(FileProblem::KerasFile(format!(
            "`{KERAS_WEIGHTS_MEMBER}` claims {claimed} bytes, more than a weights file of this model can hold ({limit})"
        )));
    }
    let mut h5 = Vec::with_capacity(claimed.min(bytes.len() as u64) as usize);
    (&mut member).take(limit + 1).read_to_end(&mut h5).map_err(|e| {
        FileProblem::KerasFile(format!("`{KERAS_WEIGHTS_MEMBER}` cannot be read from the archive ({e})"))
    })?;
    if h5.len() as u64 != claimed {
        return Err(FileProblem::KerasFile(format!(
            "`{KERAS_WEIGHTS_MEMBER}` holds {} bytes, its header claims {claimed}",
            h5.len()
        )));
    }
    load_keras_h5_bytes(network, &h5)
}

/// Loads a Keras 3 `.weights.h5` file's bytes.
pub fn load_keras_h5_bytes<N: Network + ?Sized>(network: &mut N, bytes: &[u8]) -> Result<(), FileProblem> {
    let paths = network.param_paths();
    let mut shapes = Vec::new();
    network.params(&mut |p| shapes.push(p.shape.clone()));
    let largest = shapes.iter().map(|s| s.iter().product::<usize>() * 4).max().unwrap_or(0);
    // No read, chunk or object header larger than the biggest parameter
    // (or the file itself) is ever needed.
    let options = OpenOptions::default()
        .with_max_read_bytes(largest.max(4096))
        .with_max_chunk_bytes(largest.max(4096))
        .with_max_object_header_bytes(bytes.len().clamp(4096, hdf5_reader::DEFAULT_MAX_OBJECT_HEADER_BYTES));
    let file = Hdf5File::from_bytes_with_options(bytes, options).map_err(hdf5_problem)?;
    let root = file.root_group().map_err(hdf5_problem)?;
    let mut visited = 0;
    let tree = Node::read(&root, String::new(), 0, &mut visited)?;
    let layers = tree.layers.as_ref().ok_or_else(|| {
        FileProblem::KerasFile("no `layers` group: not a Keras 3 weights file (Keras 2's .h5 files differ)".into())
    })?;

    let entries: Vec<Entry> = paths
        .iter()
        .zip(&shapes)
        .enumerate()
        .map(|(index, (path, shape))| Entry { index, parts: path.split('/').collect(), shape })
        .collect();
    let mut found: Vec<Option<&Variable>> = vec![None; entries.len()];
    let refs: Vec<(&Entry, usize)> = entries.iter().map(|e| (e, 0)).collect();
    match_named(&refs, layers, "", &mut found)?;

    // Everything matched and every shape fits: now read the values.
    let mut values = Vec::with_capacity(entries.len());
    for (entry, variable) in entries.iter().zip(&found) {
        let variable = variable.expect("every parameter is matched or an error was returned");
        let mut data = vec![0.0f32; entry.shape.iter().product()];
        variable.dataset.read_into(&mut data).map_err(|e| {
            FileProblem::KerasFile(format!("`{}` cannot be read ({e})", variable.path.trim_start_matches('/')))
        })?;
        // Named by the model's parameter path, as the other errors name layers.
        super::check_finite(&entry.parts.join("/"), &data)?;
        values.push(data);
    }
    set_weights(network, values);
    Ok(())
}

/// The most bytes a weights file of `network` may take: its weights and
/// an optimizer's state (a few copies), plus HDF5's bookkeeping.
fn weights_file_limit<N: Network + ?Sized>(network: &N) -> u64 {
    let (mut values, mut tensors) = (0u64, 0u64);
    network.params(&mut |p| {
        values += p.value.len() as u64;
        tensors += 1;
    });
    16 * values + 64 * 1024 * (tensors + 16)
}

fn hdf5_problem(e: impl std::fmt::Display) -> FileProblem {
    FileProblem::KerasFile(format!("not a readable HDF5 file ({e})"))
}

/// One of the model's parameters: its path split at `/`, of which
/// `parts[depth..]` are still to be matched.
struct Entry<'a> {
    index: usize,
    parts: Vec<&'a str>,
    shape: &'a [usize],
}

/// A variable in the file.
struct Variable {
    path: String,
    shape: Vec<usize>,
    dataset: Dataset,
}

/// A group of the file that saves an object's state: its variables
/// (`vars/0…`), the layer's name (the `vars` group's attribute), the
/// objects it wraps (`cell`, `layer`, …) and, for a model, its layers.
struct Node {
    key: String,
    name: Option<String>,
    vars: Vec<Variable>,
    wrapped: Vec<Node>,
    layers: Option<Vec<Node>>,
}

impl Node {
    fn read(group: &Group, path: String, depth: usize, visited: &mut usize) -> Result<Node, FileProblem> {
        *visited += 1;
        if depth > MAX_DEPTH || *visited > MAX_GROUPS {
            return Err(FileProblem::KerasFile(format!("groups nest too deeply or are too many at `{path}`")));
        }
        let key = path.rsplit('/').next().unwrap_or_default().to_string();
        let mut node = Node { key, name: None, vars: Vec::new(), wrapped: Vec::new(), layers: None };
        let (groups, _) = group.members().map_err(hdf5_problem)?;
        for child in groups {
            let child_path = format!("{path}/{}", child.name());
            match child.name() {
                "vars" => {
                    node.name =
                        child.attribute("name").ok().and_then(|a| a.decoded_strings.and_then(|s| s.into_iter().next()));
                    node.vars = read_vars(&child, &child_path)?;
                }
                "layers" => {
                    let (members, _) = child.members().map_err(hdf5_problem)?;
                    let mut layers = Vec::new();
                    for layer in members {
                        let layer_path = format!("{child_path}/{}", layer.name());
                        layers.push(Node::read(&layer, layer_path, depth + 1, visited)?);
                    }
                    node.layers = Some(layers);
                }
                // A compiled model's optimizer state is not the model's.
                "optimizer" if depth == 0 => {}
                _ => node.wrapped.push(Node::read(&child, child_path, depth + 1, visited)?),
            }
        }
        Ok(node)
    }

    /// The layer's name: the `name` attribute, else the group's key.
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.key)
    }

    fn has_weights(&self) -> bool {
        !self.vars.is_empty()
            || self.wrapped.iter().any(Node::has_weights)
            || self.layers.iter().flatten().any(Node::has_weights)
    }

    fn variable_count(&self) -> usize {
        self.vars.len()
            + self.wrapped.iter().map(Node::variable_count).sum::<usize>()
            + self.layers.iter().flatten().map(Node::variable_count).sum::<usize>()
    }
}

/// The datasets `0, 1, …` of a `vars` group, in numeric order.
fn read_vars(group: &Group, path: &str) -> Result<Vec<Variable>, FileProblem> {
    let (_, datasets) = group.members().map_err(hdf5_problem)?;
    let mut numbered = Vec::new();
    for dataset in datasets {
        let name = dataset.name().rsplit('/').next().unwrap_or_default().to_string();
        let index: usize =
            name.parse().map_err(|_| FileProblem::KerasFile(format!("`{path}/{name}` is not a numbered variable")))?;
        let var_path = format!("{path}/{name}");
        match dataset.dtype() {
            Datatype::FloatingPoint { size: 4, .. } => {}
            other => {
                return Err(FileProblem::Dtype {
                    tensor: var_path.trim_start_matches('/').into(),
                    found: format!("{other:?}"),
                })
            }
        }
        let shape = dataset
            .shape()
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| FileProblem::KerasFile(format!("`{var_path}` has an impossible shape")))?;
        numbered.push((index, Variable { path: var_path, shape, dataset }));
    }
    numbered.sort_by_key(|(i, _)| *i);
    if let Some(gap) = numbered.iter().enumerate().find(|(k, (i, _))| k != i) {
        return Err(FileProblem::KerasFile(format!(
            "`{path}` has no variable {} (variables are numbered 0, 1, …)",
            gap.0
        )));
    }
    Ok(numbered.into_iter().map(|(_, v)| v).collect())
}

/// Matches the model's sub-layers (`entries`, grouped by their component
/// at `depth`) to the file's `layers`, by name or else by group key.
fn match_named<'f>(
    entries: &[(&Entry, usize)],
    layers: &'f [Node],
    context: &str,
    found: &mut [Option<&'f Variable>],
) -> Result<(), FileProblem> {
    let mut groups: Vec<(&str, Vec<(&Entry, usize)>)> = Vec::new();
    for &(entry, depth) in entries {
        let name = entry.parts[depth];
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, members)) => members.push((entry, depth + 1)),
            None => groups.push((name, vec![(entry, depth + 1)])),
        }
    }
    let by_name = |name: &str| layers.iter().position(|l| l.name() == name);
    let by_key = |name: &str| layers.iter().position(|l| l.key == name);
    let use_keys = groups.iter().any(|(n, _)| by_name(n).is_none()) && groups.iter().all(|(n, _)| by_key(n).is_some());
    let mut used = vec![false; layers.len()];
    for (name, members) in &groups {
        let position = if use_keys { by_key(name) } else { by_name(name) };
        let Some(position) = position else {
            let mut shapes = Vec::new();
            members.iter().for_each(|(e, _)| shapes.push(e.shape.to_vec()));
            let available = layers.iter().filter(|l| l.has_weights()).map(|l| l.name().to_string()).collect();
            return Err(FileProblem::MissingLayer { layer: format!("{context}{name}"), expected: shapes, available });
        };
        used[position] = true;
        match_layer(members, &layers[position], &format!("{context}{name}/"), found)?;
    }
    if let Some(extra) = layers.iter().zip(&used).find(|(l, used)| !**used && l.has_weights()) {
        let layer = extra.0;
        return Err(FileProblem::UnexpectedLayer {
            layer: format!("{context}{}", layer.name()),
            variables: layer.variable_count(),
        });
    }
    Ok(())
}

/// Matches one layer's parameters (their remaining path components) to
/// one node of the file.
fn match_layer<'f>(
    entries: &[(&Entry, usize)],
    node: &'f Node,
    context: &str,
    found: &mut [Option<&'f Variable>],
) -> Result<(), FileProblem> {
    let own: Vec<&Entry> = entries.iter().filter(|(e, d)| e.parts.len() == d + 1).map(|(e, _)| *e).collect();
    let nested: Vec<(&Entry, usize)> = entries.iter().filter(|(e, d)| e.parts.len() > d + 1).copied().collect();
    if let Some(layers) = &node.layers {
        // A model used as a layer: its own variables, then its layers by name.
        match_vars(&own, node, found)?;
        if !nested.is_empty() || layers.iter().any(Node::has_weights) {
            match_named(&nested, layers, context, found)?;
        }
        return Ok(());
    }
    if node.vars.is_empty() && node.wrapped.len() == 1 {
        let inner = &node.wrapped[0];
        // An RNN's cell (kiln: `lstm/lstm_cell/kernel`, Keras:
        // `lstm/cell/vars/0`): step past the cell's name.
        let single_prefix = nested.first().map(|(e, d)| e.parts[*d]);
        if own.is_empty()
            && inner.layers.is_none()
            && single_prefix.is_some()
            && nested.iter().all(|(e, d)| Some(e.parts[*d]) == single_prefix)
        {
            let stepped: Vec<(&Entry, usize)> = nested.iter().map(|(e, d)| (*e, d + 1)).collect();
            return match_layer(&stepped, inner, context, found);
        }
        // A wrapper whose weights are its layer's (`TimeDistributed`).
        return match_layer(entries, inner, context, found);
    }
    if let Some((entry, _)) = nested.first() {
        return Err(FileProblem::MissingTensor { tensor: entry.parts.join("/"), expected: entry.shape.to_vec() });
    }
    if let Some(extra) = node.wrapped.iter().find(|w| w.has_weights()) {
        return Err(FileProblem::UnexpectedLayer {
            layer: format!("{context}{}", extra.name()),
            variables: extra.variable_count(),
        });
    }
    match_vars(&own, node, found)
}

/// The node's own variables, in order, against the parameters `own`.
fn match_vars<'f>(own: &[&Entry], node: &'f Node, found: &mut [Option<&'f Variable>]) -> Result<(), FileProblem> {
    for (k, entry) in own.iter().enumerate() {
        let tensor = entry.parts.join("/");
        let Some(variable) = node.vars.get(k) else {
            return Err(FileProblem::MissingTensor { tensor, expected: entry.shape.to_vec() });
        };
        if variable.shape != entry.shape {
            return Err(FileProblem::Shape { tensor, expected: entry.shape.to_vec(), found: variable.shape.clone() });
        }
        found[entry.index] = Some(variable);
    }
    if let Some(extra) = node.vars.get(own.len()) {
        return Err(FileProblem::UnexpectedTensor {
            tensor: extra.path.trim_start_matches('/').to_string(),
            found: extra.shape.clone(),
        });
    }
    Ok(())
}
