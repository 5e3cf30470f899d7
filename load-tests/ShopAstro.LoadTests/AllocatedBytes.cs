using System.Globalization;
using System.Text.RegularExpressions;

namespace ShopAstro.LoadTests;

/// <summary>
/// A target process's own count of the bytes it has allocated since it started (<c>GC.GetTotalAllocatedBytes</c>), read
/// over HTTP before and after a measured run: the edge's from its Prometheus endpoint (<c>dotnet.gc.heap.total_allocated</c>
/// of the runtime's meter), the ceiling server's from a route of its own. The difference over a run, divided by that
/// run's requests, is the bytes allocated per request of the measured run itself, with no tool attached.
/// </summary>
internal static partial class AllocatedBytes
{
    /// <summary>The ceiling server's route that answers its count.</summary>
    public const string CeilingRoute = "/gc/allocated-bytes";

    /// <summary>The bytes the edge has allocated so far, or null when its metrics do not say.</summary>
    public static async Task<long?> OfEdgeAsync(string baseUrl)
    {
        var text = await GetAsync(baseUrl, "/metrics");
        var match = text is null ? null : EdgeCounter().Match(text);
        return match is { Success: true } ? (long)double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The bytes the ceiling server has allocated so far, or null when it does not answer.</summary>
    public static async Task<long?> OfCeilingAsync(string baseUrl) =>
        long.TryParse(await GetAsync(baseUrl, CeilingRoute), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes : null;

    /// <summary>The bytes allocated between two readings: null when either is missing or the count went backwards (a restart).</summary>
    public static long? Between(long? before, long? after) => before is { } b && after is { } a && a >= b ? a - b : null;

    private static async Task<string?> GetAsync(string baseUrl, string path)
    {
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(10) };
            return await client.GetStringAsync(path);
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"allocated bytes unavailable from {baseUrl}{path}: {exception.Message}");
            return null;
        }
    }

    [GeneratedRegex("""^dotnet_gc_heap_total_allocated_bytes(?:_total)?(?:\{[^}]*\})? (?<value>[0-9.e+E]+)""", RegexOptions.Multiline)]
    private static partial Regex EdgeCounter();
}
