using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;
using ShopAstro.Tests.Propagation;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// Downstream propagation under faults, on PostgreSQL with silo and edge processes and a real receiver: every stored
/// withdrawal, deletion, cancellation and minor flag is delivered (at least once) across SIGKILLed silos and a receiver
/// that fails and stalls meanwhile, and no event is ever delivered for a write that
/// was not stored (here: writes refused during a PostgreSQL outage). The stored truth is the subject's receipts and status.
/// </summary>
[Collection("faults")]
public sealed class PropagationFaultTests(ITestOutputHelper output)
{
    private const int Writers = 8;
    private const int SubjectsPerWriter = 4;
    private static readonly TimeSpan DeliveryBound = TimeSpan.FromSeconds(90);

    private static readonly Dictionary<string, string> FastDelivery = new()
    {
        ["Downstream__DeliveryTimeout"] = "00:00:02",
        ["Downstream__RetryInitialDelay"] = "00:00:00.200",
        ["Downstream__RetryMaxDelay"] = "00:00:01",
        ["Downstream__ReminderPeriod"] = "00:00:02",
        ["Downstream__AllowPrivateNetworks"] = "true",
    };

    [Fact]
    public async Task Every_stored_change_reaches_the_receiver_across_silo_kills_and_no_other_event_does()
    {
        var redis = ServiceProcess.RedisOrFail();
        await using var database = await TestDatabase.PostgresAsync();
        await using var cluster = new FaultCluster(redis, database.ConnectionString, FastDelivery);
        await using var receiver = await WebhookReceiver.StartAsync();
        await cluster.RunAsync(async () =>
        {
            const string Store = "faults-propagation";
            var silos = new List<ServiceProcess> { await cluster.StartSiloAsync(), await cluster.StartSiloAsync() };
            var edge = await cluster.StartEdgeAsync();
            using var client = FaultCluster.Client(edge.Url, TimeSpan.FromSeconds(10));
            await (await client.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();
            await Register(client, Store, receiver);

            // Each writer alternates grant and withdrawal over its own subjects, through two SIGKILLs.
            var acknowledgedWithdrawals = new ConcurrentDictionary<string, int>();
            var attempts = 0;
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    var subject = $"k{w}-{n / 2 % SubjectsPerWriter}";
                    var granted = n % 2 == 0;
                    Interlocked.Increment(ref attempts);
                    try
                    {
                        using var response = await client.SetConsentAsync(Store, subject, "analytics", granted);
                        if (response.StatusCode == HttpStatusCode.OK && !granted)
                        {
                            acknowledgedWithdrawals.AddOrUpdate(subject, 1, (_, c) => c + 1);
                        }
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                    {
                        // Not acknowledged: it may or may not have been stored; the receipts say which.
                    }
                }
            })).ToArray();

            // Beside them, subjects that are granted, then deleted, cancelled or flagged a minor: one event each if stored.
            var lifecycleSubjects = new ConcurrentQueue<string>();
            var lifecycle = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    var subject = $"x{w}-{n}";
                    lifecycleSubjects.Enqueue(subject);
                    Interlocked.Increment(ref attempts);
                    try
                    {
                        using (await client.SetConsentAsync(Store, subject, "analytics", true))
                        {
                        }

                        using var response = (n % 3) switch
                        {
                            0 => await client.DeleteAsync($"/v1/stores/{Store}/subjects/{subject}"),
                            1 => await client.PostAsync($"/v1/stores/{Store}/subjects/{subject}/cancel", null),
                            _ => await client.PutAsync($"/v1/stores/{Store}/subjects/{subject}/age", ConsentApi.Json("""{"minor":true}""")),
                        };
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                    {
                        // Not acknowledged: the subject's stored status says whether it happened.
                    }
                }
            })).ToArray();

            // The receiver fails (503) through the first kill and stalls past the send timeout through the second, so a
            // backlog of unacknowledged events is held across both; it recovers only once the writes have stopped.
            var modes = new[] { WebhookReceiver.Mode.Fail, WebhookReceiver.Mode.Stall };
            for (var kill = 0; kill < 2; kill++)
            {
                receiver.Answer = modes[kill];
                await Task.Delay(TimeSpan.FromSeconds(3));
                silos[0].Kill();
                silos.RemoveAt(0);
                silos.Add(await cluster.StartSiloAsync());
            }

            await Task.Delay(TimeSpan.FromSeconds(3));
            await stop.CancelAsync();
            await Task.WhenAll(writers);
            await Task.WhenAll(lifecycle);
            var acceptedBefore = receiver.Accepted.Count;
            long backlog;
            using (var pending = await client.GetAsync($"/v1/stores/{Store}/propagation"))
            {
                backlog = (await pending.ReadJsonAsync())["systems"]![0]!["pending"]!.GetValue<long>();
            }

            Assert.True(backlog > 0, "no event was pending while the receiver failed and stalled");
            receiver.Answer = WebhookReceiver.Mode.Acknowledge;
            Assert.True(acknowledgedWithdrawals.Values.Sum() > 50, $"too few acknowledged withdrawals: {acknowledgedWithdrawals.Values.Sum()} of {attempts} writes");

            var receipts = await StoredWithdrawals(client, Store, Enumerable.Range(0, Writers)
                .SelectMany(w => Enumerable.Range(0, SubjectsPerWriter).Select(s => $"k{w}-{s}")));
            foreach (var (subject, count) in acknowledgedWithdrawals)
            {
                Assert.True(receipts[subject].Receipts >= count, $"{subject}: {count} acknowledged withdrawals, {receipts[subject].Receipts} stored");
            }

            // A withdrawal stored after a grant that was not (a failed write) changed nothing, and has no event.
            var stored = receipts.ToDictionary(r => r.Key, r => r.Value.Events);
            var statuses = await StoredStatusEvents(client, Store, lifecycleSubjects);

            var deadline = DateTime.UtcNow + DeliveryBound;
            Dictionary<string, int> delivered;
            Dictionary<string, string> deliveredStatus;
            while (true)
            {
                delivered = Delivered(receiver);
                deliveredStatus = DeliveredStatusEvents(receiver);
                if ((stored.All(s => delivered.GetValueOrDefault(s.Key) == s.Value)
                        && statuses.All(s => deliveredStatus.GetValueOrDefault(s.Key) == s.Value)) || DateTime.UtcNow > deadline)
                {
                    break;
                }

                await Task.Delay(200);
            }

            var mismatches = stored.Where(s => delivered.GetValueOrDefault(s.Key) != s.Value)
                .Select(s => $"{s.Key}: stored {s.Value}, delivered {delivered.GetValueOrDefault(s.Key)}")
                .Concat(statuses.Where(s => deliveredStatus.GetValueOrDefault(s.Key) != s.Value)
                    .Select(s => $"{s.Key}: stored {s.Value ?? "no change"}, delivered {deliveredStatus.GetValueOrDefault(s.Key) ?? "nothing"}"))
                .ToList();
            Assert.True(mismatches.Count == 0, "every stored withdrawal, deletion, cancellation and minor flag, and only those, is delivered:\n"
                + string.Join("\n", mismatches));
            var statusEvents = statuses.Values.Count(v => v is not null);
            var byKind = statuses.Values.OfType<string>().CountBy(v => v).ToDictionary();
            Assert.True(byKind.Count == 3 && byKind.Values.All(c => c >= 3),
                $"too few deletions, cancellations and minor flags stored: {string.Join(", ", byKind.Select(k => $"{k.Key} {k.Value}"))}");
            Assert.Equal(0, receiver.BadSignatures);
            var propagation = (await (await client.GetAsync($"/v1/stores/{Store}/propagation")).ReadJsonAsync())["systems"]![0]!;
            Assert.True(receiver.Attempts > receiver.Accepted.Count, "no delivery attempt failed or stalled");
            var distinctDelivered = receiver.Accepted.DistinctBy(r => r.EventId).Count();
            output.WriteLine($"PROPAGATION-KILLS: {attempts} writes, {acknowledgedWithdrawals.Values.Sum()} acknowledged withdrawals, " +
                $"{stored.Values.Sum()} stored, {statusEvents} deletions, cancellations and minor flags stored " +
                $"({string.Join(", ", byKind.Select(k => $"{k.Key} {k.Value}"))}), {backlog} pending when the receiver recovered ({acceptedBefore} acknowledged before), " +
                $"{receiver.Attempts} attempts, {distinctDelivered} distinct events delivered " +
                $"({receiver.Accepted.Count - distinctDelivered} repeats); propagation: {propagation.ToJsonString()}");
        });
    }

    [Fact]
    public async Task Writes_refused_during_a_postgres_outage_send_no_event_and_the_outbox_delivers_again_after_it()
    {
        var redis = ServiceProcess.RedisOrFail();
        await using var postgres = await PrivatePostgres.StartAsync();
        await using var cluster = new FaultCluster(redis, postgres.ConnectionString, FastDelivery);
        await using var receiver = await WebhookReceiver.StartAsync();
        await cluster.RunAsync(async () =>
        {
            const string Store = "faults-propagation-pg";
            await cluster.StartSiloAsync();
            var edge = await cluster.StartEdgeAsync();
            using var client = FaultCluster.Client(edge.Url, TimeSpan.FromSeconds(20));
            await (await client.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();
            await Register(client, Store, receiver);
            const int Victims = 10;
            for (var i = 0; i < Victims; i++)
            {
                await (await client.SetConsentAsync(Store, $"o{i}", "analytics", true)).ShouldBeOkAsync();
            }

            await postgres.StopImmediateAsync();
            var refused = 0;
            for (var i = 0; i < Victims; i++)
            {
                using var response = await client.SetConsentAsync(Store, $"o{i}", "analytics", false);
                refused += response.StatusCode == HttpStatusCode.ServiceUnavailable ? 1 : 0;
            }

            await postgres.StartServerAsync();
            // A withdrawal after the outage, acknowledged, must arrive; rows are delivered in order, so anything the
            // outage's writes had queued would have arrived before it.
            var after = await RetryUntilOk(() => client.SetConsentAsync(Store, "after-outage", "analytics", false));
            await receiver.WaitForAsync(r => r.Any(e => e.Body["subjectId"]!.GetValue<string>() == "after-outage"), DeliveryBound);
            var stored = (await StoredWithdrawals(client, Store, Enumerable.Range(0, Victims).Select(i => $"o{i}")))
                .ToDictionary(r => r.Key, r => r.Value.Events);
            var delivered = Delivered(receiver);
            output.WriteLine($"PROPAGATION-OUTAGE: {refused} of {Victims} withdrawals refused (503) during the outage; stored {stored.Values.Sum()}; " +
                $"events {string.Join(", ", delivered.Select(d => $"{d.Key}={d.Value}"))}; recovered write after {after} attempts");
            Assert.True(refused == Victims, $"every write during the outage is refused: {refused} of {Victims}");
            foreach (var (subject, count) in stored)
            {
                Assert.Equal(count, delivered.GetValueOrDefault(subject));
            }

            Assert.Equal(Victims, stored.Count);
            Assert.Equal(0, stored.Values.Sum());
            Assert.Equal(["after-outage"], delivered.Keys);
        });
    }

    private static async Task Register(HttpClient client, string store, WebhookReceiver receiver)
    {
        using var response = await client.PostAsync($"/v1/stores/{store}/downstream",
            ConsentApi.Json($$"""{"url":"{{receiver.Url}}","secret":"{{receiver.Secret}}"}"""));
        await response.ShouldBeOkAsync(HttpStatusCode.Created);
    }

    /// <summary>Distinct withdrawal events per subject, as the receiver deduplicates them (by event id).</summary>
    private static Dictionary<string, int> Delivered(WebhookReceiver receiver) => receiver.Accepted
        .Where(r => r.Body["type"]!.GetValue<string>() == "withdrawal")
        .DistinctBy(r => r.EventId)
        .GroupBy(r => r.Body["subjectId"]!.GetValue<string>())
        .ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Per subject, the one deletion, cancellation or minor event delivered (distinct by event id); several are joined.</summary>
    private static Dictionary<string, string> DeliveredStatusEvents(WebhookReceiver receiver) => receiver.Accepted
        .Where(r => r.Body["type"]!.GetValue<string>() != "withdrawal")
        .DistinctBy(r => r.EventId)
        .GroupBy(r => r.Body["subjectId"]!.GetValue<string>())
        .ToDictionary(g => g.Key, g => string.Join("+", g.Select(r => r.Body["type"]!.GetValue<string>())));

    /// <summary>
    /// Per subject, the event its stored status calls for (erased: deletion, cancelled: cancellation, minor: minor), or
    /// null when the change was not stored (no record, or still active).
    /// </summary>
    private static async Task<Dictionary<string, string?>> StoredStatusEvents(HttpClient client, string store, IEnumerable<string> subjects)
    {
        var stored = new Dictionary<string, string?>();
        foreach (var subject in subjects)
        {
            using var response = await RetryGet(client, $"/v1/stores/{store}/subjects/{subject}");
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, $"{subject}: {(int)response.StatusCode}");
            var status = response.StatusCode == HttpStatusCode.OK ? (await response.ReadJsonAsync())["status"]!.GetValue<string>() : null;
            stored[subject] = status switch
            {
                "erased" => "deletion",
                "cancelled" => "cancellation",
                "minor" => "minor",
                _ => null,
            };
        }

        return stored;
    }

    /// <summary>
    /// Per subject, the stored withdrawal receipts, and those that turned a grant (or nothing) into a withdrawal: one event each.
    /// </summary>
    private static async Task<Dictionary<string, (int Receipts, int Events)>> StoredWithdrawals(HttpClient client, string store, IEnumerable<string> subjects)
    {
        var stored = new Dictionary<string, (int, int)>();
        foreach (var subject in subjects)
        {
            using var response = await RetryGet(client, $"/v1/stores/{store}/subjects/{subject}");
            var (count, withdrawals) = (0, 0);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                bool? previous = null;
                foreach (var receipt in (await response.ReadJsonAsync())["receipts"]!.AsArray())
                {
                    if (receipt!["event"]!.GetValue<string>() != "consent")
                    {
                        continue;
                    }

                    var granted = receipt["granted"]!.GetValue<bool>();
                    count += !granted && previous != false ? 1 : 0;
                    withdrawals += granted ? 0 : 1;
                    previous = granted;
                }
            }

            stored[subject] = (withdrawals, count);
        }

        return stored;
    }

    private static async Task<HttpResponseMessage> RetryGet(HttpClient client, string path)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var response = await client.GetAsync(path);
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt == 30)
                {
                    return response;
                }

                response.Dispose();
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException && attempt < 30)
            {
            }

            await Task.Delay(1000);
        }
    }

    private static async Task<int> RetryUntilOk(Func<Task<HttpResponseMessage>> write)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await write();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return attempt;
            }

            Assert.True(attempt < 60, $"no write succeeded after the outage: {(int)response.StatusCode}");
            await Task.Delay(1000);
        }
    }
}
