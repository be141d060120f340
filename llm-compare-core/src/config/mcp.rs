//! `[mcp.<name>]`: MCP servers whose tools requests may name, checked and connected. Without
//! the `mcp` feature a configuration naming one is refused, saying which feature to build.

use std::sync::Arc;

use super::Config;
use crate::tools::{HttpTools, ToolExecutor};
use crate::types::error::{Error, Result};

impl Config {
    /// The MCP servers connected as one executor (None without any); a tool name an HTTP tool
    /// has too is refused, naming the server.
    #[cfg(feature = "mcp")]
    pub(super) async fn mcp_tools(
        &self,
        http: Option<&HttpTools>,
    ) -> Result<Option<Arc<dyn ToolExecutor>>> {
        let servers = self.mcp_servers()?;
        if servers.is_empty() {
            return Ok(None);
        }
        let mcp = crate::tools::mcp::McpTools::connect(servers).await?;
        for t in http.map(|h| h.tools()).unwrap_or_default() {
            let name = &t.function.name;
            if let Some((server, _)) = mcp.servers().into_iter().find(|(_, n)| n.contains(name)) {
                return Err(Error::invalid(
                    format!("tools.{name}"),
                    format!(
                        "the MCP server `{server}` has a tool of this name too; list the tools to use from it in `[mcp.{server}] tools = [...]`"
                    ),
                ));
            }
        }
        Ok(Some(Arc::new(mcp)))
    }

    /// Without the `mcp` feature: none, or an error naming the first `[mcp.*]`.
    #[cfg(not(feature = "mcp"))]
    pub(super) async fn mcp_tools(
        &self,
        _http: Option<&HttpTools>,
    ) -> Result<Option<Arc<dyn ToolExecutor>>> {
        match self.mcp.keys().next() {
            None => Ok(None),
            Some(name) => Err(Error::invalid(
                format!("mcp.{name}"),
                "this build has no MCP support: build llm-compare-core with its `mcp` feature",
            )),
        }
    }

    /// The `[mcp.*]`, checked: a `command` or a `url`, not both; `env:` values whose variable
    /// is set; a positive timeout.
    #[cfg(feature = "mcp")]
    pub fn mcp_servers(&self) -> Result<Vec<crate::tools::mcp::McpServer>> {
        let mut out = Vec::new();
        for (name, m) in &self.mcp {
            let field = |f: &str| format!("mcp.{name}.{f}");
            let resolve = |f: &str, map: &std::collections::BTreeMap<String, String>| {
                map.iter()
                    .map(|(k, v)| match v.strip_prefix("env:") {
                        Some(var) => super::env_nonempty(var)
                            .map(|val| (k.clone(), val))
                            .ok_or_else(|| {
                                Error::invalid(
                                    field(f),
                                    format!("`{k}` reads ${var}, which is not set"),
                                )
                            }),
                        None => Ok((k.clone(), v.clone())),
                    })
                    .collect::<Result<Vec<_>>>()
            };
            let transport = match (&m.command, &m.url) {
                (Some(command), None) => {
                    if command.trim().is_empty() {
                        return Err(Error::invalid(field("command"), "a program to run"));
                    }
                    if !m.headers.is_empty() {
                        return Err(Error::invalid(field("headers"), "headers go with `url`"));
                    }
                    crate::tools::mcp::McpTransport::Stdio {
                        command: command.clone(),
                        args: m.args.clone(),
                        env: resolve("env", &m.env)?,
                        cwd: m.cwd.as_ref().map(std::path::PathBuf::from),
                    }
                }
                (None, Some(url)) => {
                    if !url.starts_with("http://") && !url.starts_with("https://") {
                        return Err(Error::invalid(field("url"), "an http(s) URL"));
                    }
                    if !m.args.is_empty() || !m.env.is_empty() || m.cwd.is_some() {
                        return Err(Error::invalid(
                            field("url"),
                            "`args`, `env` and `cwd` go with `command`, not `url`",
                        ));
                    }
                    crate::tools::mcp::McpTransport::Http {
                        url: url.clone(),
                        headers: resolve("headers", &m.headers)?,
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        format!("mcp.{name}"),
                        "either `command` (stdio) or `url` (streamable HTTP), not both",
                    ));
                }
                (None, None) => {
                    return Err(Error::invalid(
                        format!("mcp.{name}"),
                        "a `command` (stdio) or a `url` (streamable HTTP)",
                    ));
                }
            };
            let timeout = m.connect_timeout_s.unwrap_or(60.0);
            if !(timeout > 0.0 && timeout.is_finite()) {
                return Err(Error::invalid(
                    field("connect_timeout_s"),
                    "a positive number of seconds",
                ));
            }
            out.push(crate::tools::mcp::McpServer {
                name: name.clone(),
                transport,
                connect_timeout: std::time::Duration::from_secs_f64(timeout),
                only: m.tools.clone(),
            });
        }
        Ok(out)
    }
}

#[cfg(all(test, feature = "mcp"))]
mod tests {
    use super::*;

    #[test]
    fn mcp_servers_are_checked_and_named_by_field() {
        let servers = |t: &str| Config::parse(t).and_then(|c| c.mcp_servers());
        let ok = servers(
            "[mcp.fs]\ncommand = \"npx\"\nargs = [\"-y\", \"server\"]\nenv = { A = \"b\" }\n\
             [mcp.web]\nurl = \"http://127.0.0.1:1/mcp\"\nheaders = { authorization = \"Bearer t\" }\ntools = [\"x\"]\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(matches!(
            &ok[0].transport,
            crate::tools::mcp::McpTransport::Stdio { command, args, env, .. }
                if command == "npx" && args.len() == 2 && env == &[("A".to_string(), "b".to_string())]
        ));
        assert_eq!(ok[0].connect_timeout, std::time::Duration::from_secs(60));
        assert_eq!(ok[1].only, Some(vec!["x".to_string()]));
        let field = |t: &str| servers(t).unwrap_err().field().map(str::to_string);
        assert_eq!(field("[mcp.a]\n"), Some("mcp.a".into()));
        assert_eq!(
            field("[mcp.a]\ncommand = \"x\"\nurl = \"http://x\"\n"),
            Some("mcp.a".into())
        );
        assert_eq!(
            field("[mcp.a]\nurl = \"ftp://x\"\n"),
            Some("mcp.a.url".into())
        );
        assert_eq!(
            field("[mcp.a]\nurl = \"http://x\"\nargs = [\"y\"]\n"),
            Some("mcp.a.url".into())
        );
        assert_eq!(
            field("[mcp.a]\ncommand = \"x\"\nheaders = { a = \"b\" }\n"),
            Some("mcp.a.headers".into())
        );
        assert_eq!(
            field("[mcp.a]\ncommand = \"x\"\nenv = { K = \"env:LLMC_TEST_UNSET_VAR\" }\n"),
            Some("mcp.a.env".into())
        );
        assert_eq!(
            field("[mcp.a]\ncommand = \"x\"\nconnect_timeout_s = -1\n"),
            Some("mcp.a.connect_timeout_s".into())
        );
        // The sync engine leaves them out; `connect` is what starts them.
        assert!(
            Config::parse("[mcp.a]\ncommand = \"/nonexistent\"\n")
                .unwrap()
                .engine()
                .unwrap()
                .tools()
                .is_none()
        );
    }
}
