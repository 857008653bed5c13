//! Output: every scenario prints exactly one JSON object on a line of its own (for scripts),
//! then one line for people starting with `# `.

use serde::Serialize;

pub fn emit<T: Serialize>(result: &T, human: &str) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(result)?);
    println!("# {human}");
    Ok(())
}
