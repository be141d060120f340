//! [`Toolbox`]: the embedder's Rust functions as tools, each with a JSON Schema.

use super::*;

/// A Rust function as a tool.
type ToolFn = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Content, String>> + Send + Sync>;

/// The embedder's functions as tools: each an async closure with a JSON Schema for its
/// arguments.
#[derive(Clone, Default)]
pub struct Toolbox {
    tools: Vec<Tool>,
    functions: HashMap<String, ToolFn>,
}

impl fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toolbox")
            .field("tools", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Toolbox {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds tool `name`: `f` gets the arguments (valid against `parameters`, a JSON Schema of
    /// an object) and returns the result, or an error message the model sees.
    pub fn function<F, Fut, C>(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        f: F,
    ) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<C, String>> + Send + 'static,
        C: Into<Content>,
    {
        let name = name.into();
        self.tools
            .push(Tool::function(name.clone(), description, parameters));
        let f = Arc::new(f);
        self.functions.insert(
            name,
            Arc::new(move |args| {
                let f = f.clone();
                Box::pin(async move { f(args).await.map(Into::into) })
            }),
        );
        self
    }
}

#[async_trait]
impl ToolExecutor for Toolbox {
    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        match self.functions.get(name) {
            Some(f) => match f(arguments).await {
                Ok(content) => ToolOutput::ok(content),
                Err(message) => ToolOutput::error(message),
            },
            None => ToolOutput::error(format!("no tool `{name}`")),
        }
    }
}
