using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ShopAstro.LoadTests;

/// <summary>One reported figure, next to its ceiling (as a ratio) and its target.</summary>
public sealed record Figure(
    string Scenario, string Name, double Value, string Unit, double? Ceiling, string? CeilingName, double? Ratio,
    string? Target, bool? Met, string? Note = null);

/// <summary>A measured window's CPU split; with its operation rate, the CPU cost of one operation per process.</summary>
public sealed record CpuWindow(string Scenario, CpuSampler.Usage Usage, double? OperationsPerSecond = null, string? Operation = null)
{
    public Dictionary<string, double> MicrosPerOperation => OperationsPerSecond is > 0
        ? Usage.GroupPercent.Where(g => g.Value >= 1).ToDictionary(g => g.Key, g => Math.Round(g.Value / 100 * 1e6 / OperationsPerSecond.Value, 2))
        : [];
}

/// <summary>One frame of a CPU profile: the share of the process's CPU samples with this frame on the stack.</summary>
public sealed record ProfileFrame(string Frame, double InclusivePercent);

public sealed record ChartPoint(string Series, double OfferedPerSecond, double AchievedPerSecond, double P50, double P99, double Max);

public sealed class RunReport
{
    public string Profile { get; set; } = "";
    public string Command { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset FinishedAt { get; set; }
    public Dictionary<string, string> Machine { get; set; } = [];
    public string LoadAverageBefore { get; set; } = "";
    public string LoadAverageAfter { get; set; } = "";
    public List<Figure> Figures { get; set; } = [];

    /// <summary>The embedded default's figures (the edge alone, its silo in process, SQLite), reported in their own section.</summary>
    public List<Figure> EmbeddedFigures { get; set; } = [];
    public List<CpuWindow> Cpu { get; set; } = [];
    public Dictionary<string, Dictionary<string, double>> Counters { get; set; } = [];
    public Dictionary<string, List<ProfileFrame>> Profiles { get; set; } = [];
    public List<ChartPoint> Chart { get; set; } = [];
    public Dictionary<string, object?> Scenarios { get; set; } = [];
    public List<string> Notes { get; set; } = [];
    public List<string> Diagnosis { get; set; } = [];
    public List<string> Failures { get; set; } = [];

    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public void Add(Figure figure) => Figures.Add(figure);

    public static double? RatioOf(double value, double? ceiling) => ceiling is > 0 ? Math.Round(value / ceiling.Value, 3) : null;

    public async Task WriteAsync(string folder)
    {
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "report.json"), JsonSerializer.Serialize(this, Json));
        var svg = ReportChart.Svg(this);
        await File.WriteAllTextAsync(Path.Combine(folder, "latency-vs-load.svg"), svg);
        var html = Path.Combine(folder, "latency-vs-load.html");
        await File.WriteAllTextAsync(html, $"<!doctype html><html><head><meta charset=\"utf-8\"><style>html,body{{margin:0;background:#fff}}</style></head><body>{svg}</body></html>");
        var png = Path.Combine(folder, "latency-vs-load.png");
        var rendered = await ReportChart.RenderPngAsync(html, Path.Combine(folder, "latency-vs-load.svg"), png);
        if (!rendered)
        {
            Notes.Add("The PNG chart could not be rendered (neither headless Chromium nor ImageMagick worked); the SVG is beside the report.");
        }

        File.Delete(html);
        await File.WriteAllTextAsync(Path.Combine(folder, "report.md"), Markdown());
        await File.WriteAllTextAsync(Path.Combine(folder, "report.json"), JsonSerializer.Serialize(this, Json));
    }

    private static string F(double value)
    {
        var abs = Math.Abs(value);
        return abs >= 1000 ? value.ToString("N0", CultureInfo.InvariantCulture)
            : abs >= 100 ? value.ToString("0.#", CultureInfo.InvariantCulture)
            : abs >= 1 ? value.ToString("0.##", CultureInfo.InvariantCulture)
            : value.ToString("0.###", CultureInfo.InvariantCulture);
    }

    private static string Verdicts(List<Figure> figures) =>
        $"{figures.Count(f => f.Met == true)} targets met, {figures.Count(f => f.Met == false)} missed";

    private static void FigureTable(StringBuilder md, List<Figure> figures)
    {
        md.AppendLine("| scenario | figure | measured | ceiling | ratio | target | |");
        md.AppendLine("|---|---|--:|--:|--:|---|---|");
        foreach (var f in figures)
        {
            var ceiling = f.Ceiling is { } c ? $"{F(c)} {f.Unit} ({f.CeilingName})" : f.CeilingName ?? "n/a";
            var ratio = f.Ratio is { } r ? r.ToString("0.###", CultureInfo.InvariantCulture) : "";
            var verdict = f.Met switch { true => "met", false => "**missed**", null => "" };
            md.AppendLine($"| {f.Scenario} | {f.Name}{(f.Note is null ? "" : $" <br><sub>{f.Note}</sub>")} | {F(f.Value)} {f.Unit} | {ceiling} | {ratio} | {f.Target ?? ""} | {verdict} |");
        }

        md.AppendLine();
    }

    public string Markdown()
    {
        var md = new StringBuilder();
        md.AppendLine($"# ShopAstro consent cluster load test: {Profile} profile");
        md.AppendLine();
        md.AppendLine($"Run {StartedAt:yyyy-MM-dd HH:mm:ss} UTC to {FinishedAt:HH:mm:ss} UTC ({(FinishedAt - StartedAt).TotalMinutes:0.0} min).");
        md.AppendLine();
        md.AppendLine("```sh");
        md.AppendLine(Command);
        md.AppendLine("```");
        md.AppendLine();
        md.AppendLine("## Machine");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        foreach (var (key, value) in Machine)
        {
            md.AppendLine($"| {key} | {value} |");
        }

        md.AppendLine($"| load average before | {LoadAverageBefore} |");
        md.AppendLine($"| load average after | {LoadAverageAfter} |");
        md.AppendLine();
        if (Failures.Count > 0)
        {
            md.AppendLine("## Scenario failures");
            md.AppendLine();
            foreach (var failure in Failures)
            {
                md.AppendLine($"- {failure}");
            }

            md.AppendLine();
        }

        md.AppendLine($"## Figures: operator topology ({Verdicts(Figures)})");
        md.AppendLine();
        FigureTable(md, Figures);
        if (EmbeddedFigures.Count > 0)
        {
            md.AppendLine($"## Embedded default ({Verdicts(EmbeddedFigures)})");
            md.AppendLine();
            md.AppendLine("The edge alone, as `dotnet run --project EdgeApi` runs it: its silo in process, SQLite in a temporary folder, no Redis; " +
                          "the hottest subjects preloaded with consents; measured after the operator topology was stopped, against the same ceiling server.");
            md.AppendLine();
            FigureTable(md, EmbeddedFigures);
        }

        md.AppendLine("![latency against offered load](latency-vs-load.png)");
        md.AppendLine();
        md.AppendLine("Latency against offered load (open loop, latency from the intended send time); closed-loop wrk points at 64 connections and the bare-Kestrel ceiling are marked.");
        md.AppendLine();
        md.AppendLine("| series | offered req/s | achieved req/s | p50 ms | p99 ms | max ms |");
        md.AppendLine("|---|--:|--:|--:|--:|--:|");
        foreach (var p in Chart)
        {
            md.AppendLine($"| {p.Series} | {F(p.OfferedPerSecond)} | {F(p.AchievedPerSecond)} | {F(p.P50)} | {F(p.P99)} | {F(p.Max)} |");
        }

        md.AppendLine();
        md.AppendLine("## Where the CPU went");
        md.AppendLine();
        md.AppendLine("Percent of one core (the machine has 200 %), sampled from /proc/<pid>/stat every 500 ms over each scenario's measured window. " +
                      "`irq` is hard and soft interrupt time (loopback TCP is mostly softirq, charged to no process); `other` is the rest of the machine's busy time, " +
                      "used by no process of this run: other work on the machine.");
        md.AppendLine();
        var groups = Cpu.SelectMany(c => c.Usage.GroupPercent.Keys).Distinct().ToArray();
        md.AppendLine($"| scenario | seconds | machine | {string.Join(" | ", groups)} | irq | other |");
        md.AppendLine($"|---|--:|--:|{string.Concat(groups.Select(_ => "--:|"))}--:|--:|");
        foreach (var c in Cpu)
        {
            md.AppendLine($"| {c.Scenario} | {F(c.Usage.Seconds)} | {F(c.Usage.MachineBusyPercent)} | " +
                          $"{string.Join(" | ", groups.Select(g => c.Usage.GroupPercent.TryGetValue(g, out var v) ? F(v) : ""))} | {F(c.Usage.InterruptPercent)} | {F(c.Usage.OtherPercent)} |");
        }

        md.AppendLine();
        md.AppendLine("CPU time per operation (µs of CPU per request, per batch item, per write) in each measured window:");
        md.AppendLine();
        md.AppendLine("| scenario | operations/s | CPU µs per operation |");
        md.AppendLine("|---|--:|---|");
        foreach (var c in Cpu.Where(c => c.OperationsPerSecond is > 0))
        {
            md.AppendLine($"| {c.Scenario} | {F(c.OperationsPerSecond!.Value)} {c.Operation} | " +
                          $"{string.Join(", ", c.MicrosPerOperation.OrderByDescending(m => m.Value).Select(m => $"{m.Key} {F(m.Value)}"))} |");
        }

        md.AppendLine();
        if (Counters.Count > 0)
        {
            md.AppendLine("## dotnet-counters (averages over an extra, unmeasured run of the single-check load; the measured run has no tool attached)");
            md.AppendLine();
            foreach (var (process, counters) in Counters)
            {
                md.AppendLine($"**{process}**");
                md.AppendLine();
                md.AppendLine("| counter | average |");
                md.AppendLine("|---|--:|");
                foreach (var (name, value) in counters)
                {
                    md.AppendLine($"| {name} | {F(value)} |");
                }

                md.AppendLine();
            }
        }

        if (Profiles.Count > 0)
        {
            md.AppendLine("## CPU profiles of the edge and the silo");
            md.AppendLine();
            md.AppendLine("`dotnet-trace collect-linux --profile cpu-sampling` (perf CPU samples, kernel and managed frames), 5 s per process during extra, " +
                          "unmeasured runs: single checks over the 1M key space (wrk -t2 -c64) and first writes (32 concurrent PUTs); " +
                          "`dotnet-trace report topN --inclusive`: share of the process's CPU samples with " +
                          "the frame on the stack (generic frames such as thread start and unresolved native frames left out).");
            md.AppendLine();
            foreach (var (process, frames) in Profiles)
            {
                md.AppendLine($"**{process}**");
                md.AppendLine();
                md.AppendLine("| frame | inclusive |");
                md.AppendLine("|---|--:|");
                foreach (var frame in frames)
                {
                    md.AppendLine($"| `{frame.Frame.Replace("|", "\\|")}` | {frame.InclusivePercent:0.#} % |");
                }

                md.AppendLine();
            }
        }

        if (Diagnosis.Count > 0)
        {
            md.AppendLine("## Missed targets: where the time goes");
            md.AppendLine();
            foreach (var d in Diagnosis)
            {
                md.AppendLine($"- {d}");
            }

            md.AppendLine();
        }

        if (Notes.Count > 0)
        {
            md.AppendLine("## Notes");
            md.AppendLine();
            foreach (var n in Notes)
            {
                md.AppendLine($"- {n}");
            }

            md.AppendLine();
        }

        md.AppendLine("Raw results of every scenario are in `report.json`.");
        return md.ToString();
    }
}
