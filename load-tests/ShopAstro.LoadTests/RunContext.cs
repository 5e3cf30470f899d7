using System.Net.Http.Headers;
using System.Text;

namespace ShopAstro.LoadTests;

public sealed record RunOptions(
    Profile Profile, string RepositoryRoot, string SiloDll, string EdgeDll, string HarnessDll, string OutputFolder,
    string PostgresAdmin, string Redis, bool KeepDatabase, string Command, string? Only = null,
    IReadOnlyList<KeyValuePair<string, string>>? Settings = null);

/// <summary>What the scenarios of one run share: options, key space, report, CPU sampler, the started processes, and figures carried between scenarios.</summary>
internal sealed class RunContext(RunOptions options)
{
    public const string StorefrontToken = "lt-storefront-token-7f3a";
    public const string AdminToken = "lt-admin-token-91bc";

    public RunOptions Options => options;
    public Profile Profile { get; } = options.Profile;
    public KeySpace Keys { get; } = new(options.Profile.Subjects, options.Profile.Stores);
    public RunReport Report { get; } = new();
    public string Stamp { get; } = DateTime.UtcNow.ToString("yyyyMMddHHmmss");
    public string AnonymisationKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    public List<ServiceProcess> Started { get; } = [];
    public CpuSampler Cpu { get; set; } = null!;
    public string Logs { get; set; } = "";

    public ServiceProcess? Silo { get; set; }
    public ServiceProcess? Edge { get; set; }
    public ServiceProcess? Ceiling { get; set; }
    public string EdgeUrl { get; set; } = "";
    public IReadOnlyDictionary<string, string> EdgeEnvironment { get; set; } = new Dictionary<string, string>();
    public string CeilingUrl { get; set; } = "";
    public string Database { get; set; } = "";
    public string ConsentConnection { get; set; } = "";

    // Carried between scenarios.
    public double WritesPerSecond { get; set; }
    public double Saturation { get; set; }
    public double CeilingRps { get; set; }
    public double CeilingP99 { get; set; }
    public Counters.Allocation? CeilingAllocatedPerRequest { get; set; }

    /// <summary>The check rate of the run with dotnet-counters attached to the edge and the silo (what their counters are rates of).</summary>
    public double AttachedCheckRps { get; set; }
    public double DictionaryLookups { get; set; }
    public double PgCeilingRate { get; set; }
    public double BatchDistinct { get; set; }
    public IReadOnlyList<(int Pid, string Command, double CpuSeconds)> OtherProcesses { get; set; } = [];
    public Dictionary<string, List<ProfileFrame>> AllFrames { get; } = [];

    public HttpClient Http(string baseUrl, string token, int connections = 256) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = connections, UseProxy = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri(baseUrl),
            Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
        };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public Dictionary<string, string> WrkEnvironment() => new()
    {
        ["LT_TOKEN"] = StorefrontToken,
        ["LT_SUBJECTS"] = Keys.Subjects.ToString(),
        ["LT_STORES"] = Keys.Stores.ToString(),
        ["LT_ZIPF_S"] = Keys.S.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public string WrkScript => Path.Combine(options.RepositoryRoot, "load-tests", "scripts", "check.lua");

    /// <summary>The first CPU window whose name starts with the prefix.</summary>
    public CpuWindow? Window(string prefix) => Report.Cpu.FirstOrDefault(c => c.Scenario.StartsWith(prefix, StringComparison.Ordinal));
}
