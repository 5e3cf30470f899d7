using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ShopAstro.LoadTests;

/// <summary>The latency-against-offered-load chart of a report: SVG, and a PNG rendered from it by headless Chromium or ImageMagick.</summary>
internal static class ReportChart
{
    public static string Svg(RunReport report)
    {
        const int width = 1000, height = 600, left = 80, right = 220, top = 50, bottom = 60;
        var plotW = width - left - right;
        var plotH = height - top - bottom;
        var points = report.Chart.Where(p => p.P50 > 0 || p.Max > 0).ToList();
        var maxX = Math.Max(1, points.Select(p => Math.Max(p.OfferedPerSecond, p.AchievedPerSecond)).DefaultIfEmpty(1).Max()) * 1.08;
        var smallest = points.Select(p => p.P50).Where(v => v > 0).DefaultIfEmpty(0.1).Min();
        var minY = Math.Max(0.01, Math.Pow(10, Math.Floor(Math.Log10(smallest))));
        var maxY = Math.Pow(10, Math.Ceiling(Math.Log10(Math.Max(200, points.Select(p => p.Max).DefaultIfEmpty(200).Max() * 1.2))));
        var decades = Math.Log10(maxY / minY);
        double X(double v) => left + v / maxX * plotW;
        double Y(double ms) => top + plotH - Math.Log10(Math.Max(ms, minY) / minY) / decades * plotH;
        string N(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

        var svg = new StringBuilder();
        svg.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">");
        svg.AppendLine($"<rect width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>");
        var cpu = report.Machine.GetValueOrDefault("cpu", "");
        svg.AppendLine($"<text x=\"{left}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Single-check latency against offered load ({report.Profile} profile)</text>");
        svg.AppendLine($"<text x=\"{left}\" y=\"40\" fill=\"#555\">{System.Security.SecurityElement.Escape($"{report.Machine.GetValueOrDefault("cores", "")} cores, {cpu}; {report.StartedAt:yyyy-MM-dd HH:mm} UTC; load average before the run {report.LoadAverageBefore}")}</text>");
        for (var d = minY; d <= maxY * 1.0001; d *= 10)
        {
            var y = Y(d);
            svg.AppendLine($"<line x1=\"{left}\" x2=\"{left + plotW}\" y1=\"{N(y)}\" y2=\"{N(y)}\" stroke=\"#ddd\"/>");
            svg.AppendLine($"<text x=\"{left - 8}\" y=\"{N(y + 4)}\" text-anchor=\"end\">{d.ToString("0.###", CultureInfo.InvariantCulture)} ms</text>");
        }

        var stepX = NiceStep(maxX / 8);
        for (var x = 0.0; x <= maxX; x += stepX)
        {
            svg.AppendLine($"<line x1=\"{N(X(x))}\" x2=\"{N(X(x))}\" y1=\"{top}\" y2=\"{top + plotH}\" stroke=\"#eee\"/>");
            svg.AppendLine($"<text x=\"{N(X(x))}\" y=\"{top + plotH + 18}\" text-anchor=\"middle\">{x.ToString("N0", CultureInfo.InvariantCulture)}</text>");
        }

        svg.AppendLine($"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#888\"/>");
        svg.AppendLine($"<text x=\"{left + plotW / 2}\" y=\"{height - 18}\" text-anchor=\"middle\">offered load (requests/s)</text>");
        svg.AppendLine($"<text transform=\"translate(20,{top + plotH / 2}) rotate(-90)\" text-anchor=\"middle\">latency (ms, log scale)</text>");

        void Target(double ms, string label, string color)
        {
            if (ms > maxY)
            {
                return;
            }

            svg.AppendLine($"<line x1=\"{left}\" x2=\"{left + plotW}\" y1=\"{N(Y(ms))}\" y2=\"{N(Y(ms))}\" stroke=\"{color}\" stroke-dasharray=\"6,4\"/>");
            svg.AppendLine($"<text x=\"{left + plotW - 4}\" y=\"{N(Y(ms) - 4)}\" text-anchor=\"end\" fill=\"{color}\">{label}</text>");
        }

        Target(5, "target p99 5 ms", "#e67e22");
        Target(100, "target max 100 ms (at half saturation)", "#c0392b");

        var series = new (string Name, Func<ChartPoint, double> Value, string Color)[]
        {
            ("p50", p => p.P50, "#2e86de"),
            ("p99", p => p.P99, "#e67e22"),
            ("max", p => p.Max, "#c0392b"),
        };
        var sweep = points.Where(p => p.Series == "edge open loop").OrderBy(p => p.OfferedPerSecond).ToList();
        foreach (var (name, value, color) in series)
        {
            if (sweep.Count > 1)
            {
                svg.AppendLine($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{string.Join(' ', sweep.Select(p => $"{N(X(p.OfferedPerSecond))},{N(Y(value(p)))}"))}\"/>");
            }

            foreach (var p in sweep)
            {
                svg.AppendLine($"<circle cx=\"{N(X(p.OfferedPerSecond))}\" cy=\"{N(Y(value(p)))}\" r=\"4\" fill=\"{color}\"/>");
            }

            foreach (var p in points.Where(p => p.Series == "edge wrk c64 (closed loop)"))
            {
                svg.AppendLine($"<rect x=\"{N(X(p.AchievedPerSecond) - 5)}\" y=\"{N(Y(value(p)) - 5)}\" width=\"10\" height=\"10\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>");
            }

            foreach (var p in points.Where(p => p.Series.StartsWith("ceiling", StringComparison.Ordinal)))
            {
                var x = X(p.Series.Contains("wrk", StringComparison.Ordinal) ? p.AchievedPerSecond : p.OfferedPerSecond);
                var y = Y(value(p));
                svg.AppendLine($"<path d=\"M{N(x)},{N(y - 6)} L{N(x + 6)},{N(y + 5)} L{N(x - 6)},{N(y + 5)} Z\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>");
            }
        }

        var lx = left + plotW + 20;
        var ly = top + 10;
        svg.AppendLine($"<text x=\"{lx}\" y=\"{ly}\" font-weight=\"bold\">edge API (operator topology)</text>");
        ly += 18;
        foreach (var (name, _, color) in series)
        {
            svg.AppendLine($"<line x1=\"{lx}\" x2=\"{lx + 24}\" y1=\"{ly - 4}\" y2=\"{ly - 4}\" stroke=\"{color}\" stroke-width=\"2\"/><circle cx=\"{lx + 12}\" cy=\"{ly - 4}\" r=\"4\" fill=\"{color}\"/>");
            svg.AppendLine($"<text x=\"{lx + 32}\" y=\"{ly}\">{name}, open loop</text>");
            ly += 18;
        }

        ly += 6;
        svg.AppendLine($"<rect x=\"{lx + 7}\" y=\"{ly - 9}\" width=\"10\" height=\"10\" fill=\"none\" stroke=\"#333\" stroke-width=\"2\"/><text x=\"{lx + 32}\" y=\"{ly}\">wrk, 64 connections</text>");
        ly += 14;
        svg.AppendLine($"<text x=\"{lx + 32}\" y=\"{ly}\" fill=\"#555\">(closed loop = saturation)</text>");
        ly += 22;
        svg.AppendLine($"<path d=\"M{lx + 12},{ly - 10} L{lx + 18},{ly + 1} L{lx + 6},{ly + 1} Z\" fill=\"none\" stroke=\"#333\" stroke-width=\"2\"/><text x=\"{lx + 32}\" y=\"{ly}\">bare Kestrel ceiling</text>");
        ly += 14;
        svg.AppendLine($"<text x=\"{lx + 32}\" y=\"{ly}\" fill=\"#555\">(wrk c64 and open loop</text>");
        ly += 14;
        svg.AppendLine($"<text x=\"{lx + 32}\" y=\"{ly}\" fill=\"#555\">at the edge's half rate)</text>");
        ly += 22;
        svg.AppendLine($"<text x=\"{lx}\" y=\"{ly}\" fill=\"#555\">colour = percentile</text>");
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static double NiceStep(double raw)
    {
        if (raw <= 0)
        {
            return 1;
        }

        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var normalized = raw / magnitude;
        var nice = normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10;
        return nice * magnitude;
    }

    public static async Task<bool> RenderPngAsync(string html, string svg, string png)
    {
        if (File.Exists("/usr/bin/chromium"))
        {
            var profile = Path.Combine(Path.GetTempPath(), "lt-chromium-" + Guid.NewGuid().ToString("N"));
            var ok = await RunToolAsync("/usr/bin/chromium",
                ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-background-networking", "--no-first-run",
                 "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}", $"--screenshot={png}", "--window-size=1000,600",
                 "file://" + html], TimeSpan.FromSeconds(60));
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (Exception)
            {
            }

            if (ok && File.Exists(png))
            {
                return true;
            }
        }

        foreach (var convert in new[] { "/usr/local/bin/convert", "/usr/bin/convert" })
        {
            if (File.Exists(convert) && await RunToolAsync(convert, [svg, png], TimeSpan.FromSeconds(60)) && File.Exists(png))
            {
                return true;
            }
        }

        return false;
    }

    private static async Task<bool> RunToolAsync(string tool, string[] arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        try
        {
            using var process = Process.Start(start)!;
            var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return false;
            }

            await drain;
            return process.ExitCode == 0;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
