using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Consistency;

/// <summary>
/// A restrictive change that an edge does not confirm waits, after it is stored and revoked where it could be, until
/// that edge's registration has run out (docs/coherence.md, L3): seconds. Meanwhile the subject grain's own reads
/// (a check, an explained check, the record) answer at once, from the stored change, as its lease grants do: they wait
/// for a change only while it stores and revokes (<c>SubjectLeases.ReadWhenStoredAsync</c>). Before they did, each
/// timed out after the check timeout (2 s, a 503), found when CI's machine stalled for 3 s and expelled its own edge.
/// A publish's push to the subject interleaves too.
/// </summary>
public sealed class ChecksDuringAWaitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const int MaxChecksTimedOutWhileRevoking = 2;

    [Fact]
    public async Task While_a_withdrawal_waits_for_a_silent_edge_the_subjects_checks_and_a_publish_are_answered_at_once()
    {
        await using var database = TestDatabase.Sqlite();
        // A publish waits for its push to each subject as long as a subject's change can wait, so that a push held up
        // behind the change would show as a publish acknowledged after it.
        await using var edge = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?> { ["Consent:PolicyPushTimeout"] = "00:00:20" });
        var client = edge.ClientWith(EdgeApiFactory.AdminToken);
        var grains = edge.Services.GetRequiredService<IGrainFactory>();
        var store = "wait-" + Guid.NewGuid().ToString("N")[..8];
        await (await client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();

        // An edge that renews its registration but never confirms a revocation, holding a lease of the grant. Registered
        // a while before, so that the withdrawal's wait for it (until its registration runs out) ends within the write
        // timeout.
        var silent = new SilentHolder();
        var holder = grains.CreateObjectReference<IDecisionLeaseHolder>(silent);
        Assert.True(await grains.GetGrain<ILeaseHolderRegistryGrain>(0).Register(holder));
        await Task.Delay(TimeSpan.FromSeconds(3));
        try
        {
            var subject = grains.GetGrain<ISubjectGrain>(SubjectKey.Of(store, "u1"));
            Assert.True((await subject.LeaseDecisions(holder)).Subject.Consents[Purpose.Analytics].Granted);

            var sent = Stopwatch.StartNew();
            var withdrawal = client.SetConsentAsync(store, "u1", "analytics", false);
            var timedOut = 0;
            while (true)
            {
                Assert.True(sent.Elapsed < Timeout, "the withdrawal was never seen");
                Decision decided;
                try
                {
                    decided = (await subject.Decide([Purpose.Analytics], RequestSignals.None)).Decisions[0];
                }
                catch (TimeoutException) when (++timedOut <= MaxChecksTimedOutWhileRevoking)
                {
                    // A check that arrives while the change stores and revokes waits for it (SubjectLeases.ReadWhenStoredAsync):
                    // revoking at the silent edge takes the revocation timeout (1 s; 2 s when this process was stalled),
                    // then its expulsion. On a loaded machine that can outlast the check timeout (2 s; one CI run of the
                    // full suite). Checks that waited through the whole wait for the edge would still fail below: the
                    // withdrawal would be acknowledged before this loop saw it.
                    continue;
                }

                if (decided.Reason == DecisionReason.Withdrawn)
                {
                    break;
                }

                Assert.Equal(DecisionReason.Granted, decided.Reason);
                await Task.Delay(20);
            }

            // Stored and revoked where it could be; still waiting for the silent edge, and the grain answers meanwhile.
            Assert.False(withdrawal.IsCompleted, $"the withdrawal did not wait for the silent edge ({sent.Elapsed})");
            var explained = await subject.Explain([Purpose.Analytics], RequestSignals.None);
            Assert.Equal(DecisionReason.Withdrawn, explained.Decisions[0].Decision.Reason);
            Assert.False((await subject.GetRecord())!.Consents[Purpose.Analytics].Granted);
            Assert.Equal((false, "withdrawn"), await client.DecideAsync(store, "u1", "analytics"));

            // A publish pushes its version to the subject meanwhile (it would otherwise time out there and wait for the
            // subject's policy lease to run out: 30 s).
            await (await client.PublishPolicyAsync(store, 2)).ShouldBeOkAsync();
            Assert.Equal(2, (await subject.Decide([Purpose.Analytics], RequestSignals.None)).PolicyVersion);
            Assert.False(withdrawal.IsCompleted, $"the publish was acknowledged only after the withdrawal ({sent.Elapsed})");

            await (await withdrawal.WaitAsync(Timeout)).ShouldBeOkAsync();
            Assert.True(sent.Elapsed > TimeSpan.FromSeconds(2), $"acknowledged after {sent.Elapsed}, before the silent edge's registration ran out");
        }
        finally
        {
            silent.Release();
        }
    }

    /// <summary>Confirms nothing: every call about a lease hangs (its caller gives up) until <see cref="Release"/>.</summary>
    private sealed class SilentHolder : IDecisionLeaseHolder
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Before the host stops: it waits for every call it is still running.</summary>
        public void Release() => _released.TrySetResult();

        public Task Revoke(string storeId, string subjectId) => _released.Task;

        public Task AddPresent(string storeId, string subjectId) => _released.Task;

        public Task RevokeAbsence(string storeId) => _released.Task;
    }
}
