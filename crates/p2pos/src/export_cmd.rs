//! `p2pos export`.

use anyhow::Result;

use crate::cli::ExportArgs;

pub fn run(args: ExportArgs) -> Result<()> {
    let summary = p2pos_node::export::export(&args.data_dir, &args.out)?;
    let missing = if summary.missing > 0 {
        format!(" ({} photo(s) not on this node yet)", summary.missing)
    } else {
        String::new()
    };
    println!(
        "Exported {} album(s), {} photo(s) to {}{missing}. README.txt there explains how to decrypt with age.",
        summary.albums,
        summary.photos,
        args.out.display()
    );
    Ok(())
}
