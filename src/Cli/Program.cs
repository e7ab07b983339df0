using System.CommandLine;
using MoeServe.Cli.Commands;

var root = new RootCommand("MoeServe: balanced Mixture-of-Experts routing, training, export and inference.");
foreach (var command in CommandCatalog.Create())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
