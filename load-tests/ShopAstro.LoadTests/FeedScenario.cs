using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace ShopAstro.LoadTests;

/// <summary>Write-to-SignalR: HTTP acknowledgement to dashboard receipt, next to a bare SignalR hub.</summary>
internal sealed class FeedScenario(RunContext run)
{
    internal async Task FeedAsync()
    {
        if (run.WritesPerSecond <= 0)
        {
            throw new InvalidOperationException("no write rate (the durable-writes scenario failed)");
        }

        var rate = Math.Max(10, run.WritesPerSecond / 2);
        var count = (int)Math.Max(run.Profile.FeedMinChanges, rate * run.Profile.FeedDuration.TotalSeconds);
        var edge = await MeasureFeedAsync("edge", run.EdgeUrl, "f", rate, count);
        run.Report.Cpu.Add(new CpuWindow($"write-to-SignalR, edge, {rate:N0} writes/s", edge.Cpu!, edge.Writes.AchievedPerSecond, "writes"));
        FeedResult? ceiling = null;
        if (run.Ceiling is { HasExited: false })
        {
            ceiling = await MeasureFeedAsync("ceiling", run.CeilingUrl, "c", rate, count);
            run.Report.Cpu.Add(new CpuWindow($"write-to-SignalR, bare SignalR ceiling, {rate:N0} writes/s", ceiling.Cpu!, ceiling.Writes.AchievedPerSecond, "writes"));
        }

        run.Report.Scenarios["writeToSignalR"] = new { rate = Math.Round(rate, 1), count, edge = edge with { Cpu = null }, ceiling = ceiling is null ? null : ceiling with { Cpu = null } };
        run.Report.Add(new Figure("write-to-SignalR", $"ack → dashboard receipt p99 at half the write rate ({rate:N0} writes/s, {edge.Received:N0} changes)", edge.AckToReceipt.P99, "ms",
            ceiling?.AckToReceipt.P99, "bare Kestrel + SignalR, no grains/storage/backplane", RunReport.RatioOf(edge.AckToReceipt.P99, ceiling?.AckToReceipt.P99),
            "<= 50 ms", edge.AckToReceipt.P99 <= 50 && edge.Missing == 0,
            $"p50 {edge.AckToReceipt.P50} / p90 {edge.AckToReceipt.P90} / max {edge.AckToReceipt.Max} ms; {edge.BeforeAck} arrived before the HTTP ack (counted as 0); {edge.Missing} missing; write p99 {edge.Writes.Latency.P99} ms"));
    }

    internal sealed record FeedResult(
        string Target, double Rate, int WriteCount, long Acknowledged, long Received, long Missing, long BeforeAck,
        LatencySummary AckToReceipt, LatencySummary SendToReceipt, OpenLoopResult Writes, CpuSampler.Usage? Cpu);

    internal async Task<FeedResult> MeasureFeedAsync(string target, string baseUrl, string prefix, double rate, int count)
    {
        const string store = "s0";
        var receipts = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        await using var connection = new HubConnectionBuilder()
            .WithUrl(baseUrl + "/hubs/consent", o =>
            {
                o.Transports = HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                o.AccessTokenProvider = () => Task.FromResult<string?>(RunContext.AdminToken);
            })
            .Build();
        connection.On<JsonElement>("consentChanged", payload =>
        {
            var now = Stopwatch.GetTimestamp();
            if (payload.TryGetProperty("subjectId", out var subject) && subject.GetString() is { } id)
            {
                receipts.TryAdd(id, now);
            }
        });
        await connection.StartAsync();
        await connection.InvokeAsync<JsonElement>("Subscribe", store);

        var sentAt = new long[count];
        var ackedAt = new long[count];
        using var client = OpenLoop.Client(64);
        var startedAt = Stopwatch.GetTimestamp();
        var from = run.Cpu.Now;
        var writes = await OpenLoop.RunAsync($"{target} writes", client, i =>
        {
            sentAt[i] = Stopwatch.GetTimestamp();
            var request = new HttpRequestMessage(HttpMethod.Put, $"{baseUrl}/v1/stores/{store}/subjects/{prefix}{run.Stamp}x{i}/consents")
            {
                Content = new StringContent($$"""{"purposes":{"analytics":{{(i % 2 == 0 ? "true" : "false")}}},"policyVersion":1,"source":"banner"}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + RunContext.StorefrontToken);
            return request;
        }, rate, TimeSpan.FromSeconds(count / rate), (i, response, now) => ackedAt[i] = now);
        var usage = run.Cpu.Between(from + 0.2, run.Cpu.Now);

        // Let the last messages arrive.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline && receipts.Count < ackedAt.Count(a => a != 0))
        {
            await Task.Delay(100);
        }

        var ackToReceipt = new MicrosHistogram();
        var sendToReceipt = new MicrosHistogram();
        long acknowledged = 0, received = 0, missing = 0, beforeAck = 0;
        for (var i = 0; i < count; i++)
        {
            if (ackedAt[i] == 0)
            {
                continue;
            }

            acknowledged++;
            if (!receipts.TryGetValue($"{prefix}{run.Stamp}x{i}", out var at))
            {
                missing++;
                continue;
            }

            received++;
            var delta = at - ackedAt[i];
            if (delta < 0)
            {
                beforeAck++;
            }

            ackToReceipt.RecordTicks(Math.Max(0, delta));
            sendToReceipt.RecordTicks(Math.Max(0, at - sentAt[i]));
        }

        GC.KeepAlive(startedAt);
        return new FeedResult(target, Math.Round(rate, 1), count, acknowledged, received, missing, beforeAck, ackToReceipt.Summary(), sendToReceipt.Summary(), writes, usage);
    }
}
