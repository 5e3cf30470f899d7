using System.Globalization;

namespace ShopAstro.LoadTests;

/// <summary>
/// Subcommands:
///   run --profile short|full --repo DIR --silo DLL --edge DLL --out DIR --pg CONN --redis HOST:PORT [--keep-db] [--command TEXT] [--only writes|checks|sweep|batch] [--settings KEY=VALUE;...]
///   ceiling-server --port N [--subjects N] [--stores N]
///   memory --checkpoints N[,N] --granted N --dir DIR --output FILE [--subjects N] [--stores N]
///   preview --edge DLL --pg CONN --out DIR [--subjects N]
///   lookups [--held N,N...]
///   open-loop [--subjects N] [--stores N]   (the open loop's generator process: orders in on stdin, results out on stdout)
/// load-tests/run.sh is the way to run it.
/// </summary>
public static class LoadTestsProgram
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: ShopAstro.LoadTests run|ceiling-server|memory|preview|lookups|open-loop [options]; see load-tests/README.md");
            return 64;
        }

        var options = Options(args.Skip(1).ToArray());
        string Required(string key) => options.TryGetValue(key, out var v) ? v : throw new ArgumentException($"--{key} is required");
        // The key space of the subcommands that run apart from the harness: the run's, or the full one.
        int Subjects() => int.Parse(options.GetValueOrDefault("subjects", "1000000"), CultureInfo.InvariantCulture);
        int Stores() => int.Parse(options.GetValueOrDefault("stores", "100"), CultureInfo.InvariantCulture);
        switch (args[0])
        {
            case "run":
                return await new Runner(new RunOptions(
                    Profile.Named(options.GetValueOrDefault("profile", "short")),
                    Path.GetFullPath(Required("repo")),
                    Path.GetFullPath(Required("silo")),
                    Path.GetFullPath(Required("edge")),
                    typeof(LoadTestsProgram).Assembly.Location,
                    Path.GetFullPath(Required("out")),
                    Required("pg"),
                    Required("redis"),
                    options.ContainsKey("keep-db"),
                    options.GetValueOrDefault("command", "load-tests/run.sh"),
                    options.GetValueOrDefault("only"),
                    Settings(options.GetValueOrDefault("settings")))).RunAsync();
            case "ceiling-server":
                return await CeilingServer.RunAsync(int.Parse(Required("port"), CultureInfo.InvariantCulture), Subjects(), Stores());
            case "memory":
                return await MemoryBench.RunAsync(
                    Required("checkpoints").Split(',').Select(long.Parse).ToArray(),
                    long.Parse(options.GetValueOrDefault("granted", "0"), CultureInfo.InvariantCulture),
                    Required("dir"), Required("output"), Subjects(), Stores());
            case "preview":
                return await PreviewBench.RunAsync(Path.GetFullPath(Required("edge")), Required("pg"),
                    Subjects(), Path.GetFullPath(Required("out")));
            case "open-loop":
                return await OpenLoopProcess.ServeAsync(new KeySpace(Subjects(), Stores()));
            case "lookups":
                return await LookupBench.RunAsync(options.GetValueOrDefault("held", "1000,30000,300000,1000000").Split(',')
                    .Select(held => int.Parse(held, CultureInfo.InvariantCulture)).ToArray());
            default:
                Console.Error.WriteLine($"unknown subcommand '{args[0]}'");
                return 64;
        }
    }

    /// <summary>KEY=VALUE pairs separated by ';' (configuration keys of the product, e.g. Consent:DecisionLease=00:00:15).</summary>
    private static List<KeyValuePair<string, string>>? Settings(string? text) =>
        text?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(pair =>
        {
            var equals = pair.IndexOf('=');
            return equals > 0
                ? KeyValuePair.Create(pair[..equals].Trim(), pair[(equals + 1)..].Trim())
                : throw new ArgumentException($"--settings: '{pair}' is not KEY=VALUE");
        }).ToList();

    private static Dictionary<string, string> Options(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }

            var key = args[i][2..];
            if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                options[key] = args[++i];
            }
            else
            {
                options[key] = "true";
            }
        }

        return options;
    }
}
