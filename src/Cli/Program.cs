using MoeServe.Cli.Commands;

var root = new RootCommand("MoeServe: balanced Mixture-of-Experts routing, training, export and inference.");
foreach (var command in CommandCatalog.Create())
{
    root.Subcommands.Add(command);
}

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // A bad flag: say which, and exit 2 (System.CommandLine's default is 1, which also means "the command failed").
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine("error: " + error.Message);
    }

    Console.Error.WriteLine("Add --help for the usage.");
    return 2;
}

return await parse.InvokeAsync().ConfigureAwait(false);
