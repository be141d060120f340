//! Executors made of others: two combined, or a subset by name.

use super::*;

/// `first`'s tools and `second`'s (a name both have is `first`'s).
pub fn combine(
    first: Arc<dyn ToolExecutor>,
    second: Arc<dyn ToolExecutor>,
) -> Arc<dyn ToolExecutor> {
    Arc::new(Combined { first, second })
}

/// Two executors as one.
#[derive(Debug)]
struct Combined {
    first: Arc<dyn ToolExecutor>,
    second: Arc<dyn ToolExecutor>,
}

#[async_trait]
impl ToolExecutor for Combined {
    fn portable(&self) -> bool {
        self.first.portable() && self.second.portable()
    }

    fn tools(&self) -> Vec<Tool> {
        let mut all = self.first.tools();
        all.extend(
            self.second
                .tools()
                .into_iter()
                .filter(|t| !all.iter().any(|a| a.function.name == t.function.name))
                .collect::<Vec<_>>(),
        );
        all
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        if self.first.tools().iter().any(|t| t.function.name == name) {
            self.first.call(name, arguments).await
        } else {
            self.second.call(name, arguments).await
        }
    }
}

/// The tools of `from` named in `names` (in that order), or the first name it does not have.
pub fn only(
    from: &Arc<dyn ToolExecutor>,
    names: &[String],
) -> Result<Arc<dyn ToolExecutor>, String> {
    let all = from.tools();
    let mut picked = Vec::with_capacity(names.len());
    for n in names {
        match all.iter().find(|t| &t.function.name == n) {
            Some(t) => picked.push(t.clone()),
            None => return Err(n.clone()),
        }
    }
    Ok(Arc::new(Subset {
        inner: from.clone(),
        tools: picked,
    }))
}

/// Some of an executor's tools.
#[derive(Debug)]
struct Subset {
    inner: Arc<dyn ToolExecutor>,
    tools: Vec<Tool>,
}

#[async_trait]
impl ToolExecutor for Subset {
    fn portable(&self) -> bool {
        self.inner.portable()
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        if self.tools.iter().any(|t| t.function.name == name) {
            self.inner.call(name, arguments).await
        } else {
            ToolOutput::error(format!("no tool `{name}`"))
        }
    }
}
