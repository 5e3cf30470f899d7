using System.Net.Http.Headers;
using ShopAstro.Tests.Faults;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence.History;

/// <summary>
/// The production topology as real processes, each in a network namespace of its own (<see cref="NetworkLab"/>):
/// PostgreSQL and Redis in one, two silos, three edge API processes. Processes that exit (killed by a fault, or a
/// silo the cluster declared dead) are started again by <see cref="KeepRunningAsync"/> unless a fault holds them down.
/// </summary>
internal sealed class HistoryCluster : IAsyncDisposable
{
    public const string Token = "history-admin-token";
    private const int SiloPort = 11111;
    private const int GatewayPort = 30000;
    private const int EdgePort = 8080;

    private readonly string _clusterId = "history-" + Guid.NewGuid().ToString("N")[..8];
    private readonly object _gate = new();
    private readonly HashSet<string> _heldDown = [];

    private HistoryCluster(NetworkLab lab, NetworkLab.Node database, PrivatePostgres postgres, PrivateRedis redis)
    {
        (Lab, Database, Postgres, Redis) = (lab, database, postgres, redis);
    }

    public NetworkLab Lab { get; }

    public NetworkLab.Node Database { get; }

    public PrivatePostgres Postgres { get; }

    public PrivateRedis Redis { get; }

    public List<Member> Silos { get; } = [];

    public List<Member> Edges { get; } = [];

    /// <summary>One process slot: its namespace, and the process running there now (null while down).</summary>
    public sealed class Member(string name, NetworkLab.Node node)
    {
        public string Name => name;

        public NetworkLab.Node Node => node;

        public ServiceProcess? Process { get; set; }

        public string Url => $"http://{node.Address}:{EdgePort}";

        /// <summary>Output of every process that ran in this slot, for failure messages.</summary>
        public List<string> Logs { get; } = [];
    }

    public static async Task<HistoryCluster> StartAsync(int silos = 2, int edges = 3)
    {
        if (!Commands.IsRoot)
        {
            throw new InvalidOperationException("The history check places processes in network namespaces: it runs as root (as CI does).");
        }

        var lab = await NetworkLab.CreateAsync();
        PrivatePostgres? postgres = null;
        var owned = false;
        try
        {
            var database = await lab.AddAsync("db");
            postgres = await PrivatePostgres.StartAsync(database.Namespace, database.Address, lab.Cidr);
            var redis = await PrivateRedis.StartAsync(database.Namespace, database.Address);
            var cluster = new HistoryCluster(lab, database, postgres, redis);
            owned = true;
            try
            {
                for (var i = 1; i <= silos; i++)
                {
                    cluster.Silos.Add(new Member($"silo{i}", await lab.AddAsync($"silo{i}")));
                }

                for (var i = 1; i <= edges; i++)
                {
                    cluster.Edges.Add(new Member($"edge{i}", await lab.AddAsync($"edge{i}")));
                }

                foreach (var silo in cluster.Silos)
                {
                    await cluster.StartAsync(silo);
                }

                await Task.WhenAll(cluster.Edges.Select(cluster.StartAsync));
                return cluster;
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }
        catch when (!owned)
        {
            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }

            await lab.DisposeAsync();
            throw;
        }
    }

    public IEnumerable<Member> Members => Silos.Concat(Edges);

    public static HttpClient Client(string url)
    {
        var client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            BaseAddress = new Uri(url),
            // Longer than a write's grain call timeout (10 s): a failure is the service's answer, not the client's.
            Timeout = TimeSpan.FromSeconds(12),
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }

    /// <summary>Starts the member's process and waits until it serves (a silo: active in the membership; an edge: ready).</summary>
    public async Task StartAsync(Member member)
    {
        var silo = Silos.Contains(member);
        var settings = new Dictionary<string, string>
        {
            ["ConnectionStrings__Redis"] = Redis.Address,
            ["ConnectionStrings__Consent"] = Postgres.ConnectionString,
            ["Orleans__ClusterId"] = _clusterId,
            ["Consent__AnonymisationKey"] = EdgeApiFactory.AnonymisationKey,
            // Information by default: readiness is read from the silo's log ("Finished BecomeActive").
            ["Logging__LogLevel__Default"] = Environment.GetEnvironmentVariable("SHOPASTRO_HISTORY_LOGLEVEL") ?? "Information",
            ["Logging__LogLevel__Polly"] = "Warning",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
            ["Logging__LogLevel__System.Net.Http"] = "Warning",
        };
        if (silo)
        {
            settings["Orleans__AdvertisedIP"] = member.Node.Address;
            var index = Silos.IndexOf(member);
            settings["Orleans__SiloPort"] = (SiloPort + index).ToString();
            settings["Orleans__GatewayPort"] = (GatewayPort + index).ToString();
        }
        else
        {
            settings["ASPNETCORE_URLS"] = member.Url;
            settings["Auth__Tokens__0__Token"] = Token;
            settings["Auth__Tokens__0__Role"] = "admin";
            // Fewer leases than subjects: leases are dropped and asked for again all the time (they run until revoked).
            settings["DecisionCache__MaxSubjects"] = "4";
        }

        var process = ServiceProcess.Start(silo ? "Silo" : "EdgeApi", settings, member.Node.Namespace);
        member.Process = process;
        if (silo)
        {
            await process.WaitForOutputAsync("Finished BecomeActive", TimeSpan.FromSeconds(90));
        }
        else
        {
            await process.WaitForHttpAsync(member.Url + "/health/ready", TimeSpan.FromSeconds(90));
        }
    }

    /// <summary>kill -9; the member stays down until <see cref="Release"/>.</summary>
    public void KillAndHold(Member member)
    {
        lock (_gate)
        {
            _heldDown.Add(member.Name);
        }

        if (member.Process is { HasExited: false } process)
        {
            process.Kill();
        }
    }

    public void Release(Member member)
    {
        lock (_gate)
        {
            _heldDown.Remove(member.Name);
        }
    }

    /// <summary>Starts again every member whose process exited, unless held down; counts those it restarted.</summary>
    public async Task KeepRunningAsync(Action<string> restarted, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            foreach (var member in Members)
            {
                bool held;
                lock (_gate)
                {
                    held = _heldDown.Contains(member.Name);
                }

                if (!held && member.Process is { HasExited: true } exited)
                {
                    member.Logs.Add(exited.Output);
                    await exited.DisposeAsync();
                    member.Process = null;
                    try
                    {
                        await StartAsync(member);
                        restarted(member.Name);
                    }
                    catch (Exception exception)
                    {
                        member.Logs.Add($"restart failed: {exception.Message}");
                    }
                }
            }

            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>How many times the silos' output (every process of each slot) says <paramref name="text"/>.</summary>
    public int CountInSiloOutput(string text) => Silos
        .SelectMany(m => m.Logs.Append(m.Process?.Output ?? ""))
        .Sum(output => (output.Length - output.Replace(text, "").Length) / text.Length);

    public string Describe(int tail = 3000) => string.Join("\n", Members.Select(m =>
    {
        var output = string.Join("\n", m.Logs.Append(m.Process?.Output ?? ""));
        return $"--- {m.Name} ({m.Node.Address}) ---\n{(output.Length > tail ? output[^tail..] : output)}";
    }));

    public async ValueTask DisposeAsync()
    {
        foreach (var member in Members)
        {
            if (member.Process is { } process)
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }

                await process.DisposeAsync();
            }
        }

        await Redis.DisposeAsync();
        await Postgres.DisposeAsync();
        await Lab.DisposeAsync();
    }
}
