using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ShopAstro.LoadTests;

public sealed record WrkResult(
    string Target, int Threads, int Connections, double Seconds, long Requests, double RequestsPerSecond,
    LatencySummary Latency, long Errors, string ErrorDetail, string CommandLine);

/// <summary>wrk, closed loop: every connection sends its next request when the previous one is answered.</summary>
public static partial class Wrk
{
    public static async Task<WrkResult> RunAsync(
        string target, string baseUrl, string script, int threads, int connections, TimeSpan duration,
        IReadOnlyDictionary<string, string> environment, Action<int>? started = null)
    {
        var start = new ProcessStartInfo("wrk")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] arguments = [$"-t{threads}", $"-c{connections}", $"-d{(int)duration.TotalSeconds}s", "--latency", "--timeout", "10s", "-s", script, baseUrl];
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        started?.Invoke(process.Id);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = await stdout + await stderr;
        var match = ResultLine().Match(output);
        if (!match.Success)
        {
            throw new InvalidOperationException($"wrk printed no LT_RESULT line:\n{output}");
        }

        var values = match.Groups["kv"].Captures.Select(c => c.Value.Split('='))
            .ToDictionary(kv => kv[0], kv => double.Parse(kv[1], CultureInfo.InvariantCulture));
        var seconds = values["duration_us"] / 1e6;
        var errors = (long)(values["err_connect"] + values["err_read"] + values["err_write"] + values["err_status"] + values["err_timeout"]);
        var non2xx = NonSuccess().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value) : 0;
        var detail = $"connect {values["err_connect"]}, read {values["err_read"]}, write {values["err_write"]}, status {values["err_status"]} (non-2xx/3xx {non2xx}), timeout {values["err_timeout"]}";
        var latency = new LatencySummary(
            (long)values["requests"], values["p50"] / 1000, values["p90"] / 1000, values["p99"] / 1000, values["p999"] / 1000,
            values["max"] / 1000, Math.Round(values["mean"] / 1000, 3));
        return new WrkResult(target, threads, connections, Math.Round(seconds, 2), (long)values["requests"],
            Math.Round(values["requests"] / seconds, 1), latency, Math.Max(errors, non2xx), detail,
            "wrk " + string.Join(' ', arguments));
    }

    [GeneratedRegex(@"LT_RESULT(?:\s+(?<kv>\w+=[0-9.]+))+")]
    private static partial Regex ResultLine();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex NonSuccess();
}
