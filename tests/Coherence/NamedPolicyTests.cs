using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// A lease holder names the store policy version it has (<see cref="PolicyStamp"/>) and a lease of that version comes
/// back without it: decision leases to edges (<see cref="HeldLeases"/>, <c>LeasedSubjectGrain.LeaseDecisions</c>) and policy
/// leases to subjects (<c>StoreGrain.AcquirePolicyLease</c>; the subject's side in <see cref="PolicyCopyTests"/>).
/// </summary>
public sealed class NamedPolicyTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private static readonly SubjectRecord Record = SubjectRecord.Empty;

    private readonly IGrainFactory _grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();

    [Fact]
    public async Task An_edge_names_the_latest_version_it_holds_and_decides_a_lease_answered_as_named_with_the_object_it_named()
    {
        var requests = new List<(string Key, PolicyStamp? Held)>();
        var answers = new Queue<DecisionLease>();
        var policies = new HeldPolicies();
        var leases = new HeldLeases(TimeProvider.System, new HolderEpoch(TimeProvider.System), (key, held) =>
        {
            requests.Add((key, held));
            return Task.FromResult(answers.Dequeue());
        }, policies);
        var v1 = Policy(1, 10);
        var v2 = Policy(2, 20);

        answers.Enqueue(new DecisionLease(v1, Record, TimeSpan.FromSeconds(5)));
        var first = await leases.LeaseAsync("s", "s/u1");
        answers.Enqueue(new DecisionLease(null, Record, TimeSpan.FromSeconds(5), PolicyAsNamed: true));
        var second = await leases.LeaseAsync("s", "s/u2");

        Assert.Equal([null, PolicyStamp.Of(v1)], requests.Select(r => r.Held));
        Assert.Same(v1, first.Policy);
        Assert.Same(v1, second.Policy);

        // A request that named v1 is answered after v2 arrived: decided under v1, the version its grain decides under.
        var named = new TaskCompletionSource<DecisionLease>();
        var slow = new HeldLeases(TimeProvider.System, new HolderEpoch(TimeProvider.System), (_, held) =>
        {
            Assert.Equal(PolicyStamp.Of(v1), held);
            return named.Task;
        }, policies);
        var late = slow.LeaseAsync("s", "s/u3");
        answers.Enqueue(new DecisionLease(v2, Record, TimeSpan.FromSeconds(5)));
        await leases.LeaseAsync("s", "s/u4");
        Assert.Same(v2, policies.Latest("s"));
        named.SetResult(new DecisionLease(null, Record, TimeSpan.FromSeconds(5), PolicyAsNamed: true));
        Assert.Same(v1, (await late).Policy);

        // A lease without a policy that is not "as named" has none (a store without a policy).
        answers.Enqueue(new DecisionLease(null, Record, TimeSpan.FromSeconds(5)));
        Assert.Null((await leases.LeaseAsync("other", "other/u1")).Policy);
        Assert.Null(requests[^1].Held);
    }

    [Fact]
    public async Task Grains_leave_out_the_policy_only_when_the_request_names_the_version_they_decide_under()
    {
        var storeId = "named-" + Guid.NewGuid().ToString("N")[..8];
        var store = _grains.GetGrain<IStoreGrain>(storeId);
        Assert.Equal(PolicyPublishStatus.Published, (await store.PublishPolicy(Update(1))).Status);
        var subject = _grains.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, "u1"));
        var holder = _grains.CreateObjectReference<IDecisionLeaseHolder>(new NoOpLeaseHolder());

        var full = await subject.LeaseDecisions(holder, null);
        var v1 = Assert.IsType<StorePolicy>(full.Policy);
        Assert.False(full.PolicyAsNamed);

        var named = await subject.LeaseDecisions(holder, PolicyStamp.Of(v1));
        Assert.Null(named.Policy);
        Assert.True(named.PolicyAsNamed);
        Assert.True(named.Duration > TimeSpan.Zero);

        // The same number published at another time is another version.
        var other = await subject.LeaseDecisions(holder, new PolicyStamp(1, v1.PublishedAt.AddTicks(1)));
        Assert.Equal(v1, other.Policy);
        Assert.False(other.PolicyAsNamed);

        Assert.Equal(PolicyPublishStatus.Published, (await store.PublishPolicy(Update(2))).Status);
        var afterPublish = await subject.LeaseDecisions(holder, PolicyStamp.Of(v1));
        var v2 = Assert.IsType<StorePolicy>(afterPublish.Policy);
        Assert.Equal(2, v2.Version);

        // The store's policy lease to a subject: the same rule.
        var policyLease = await store.AcquirePolicyLease("u2", present: false, PolicyStamp.Of(v2));
        Assert.Null(policyLease.Policy);
        Assert.True(policyLease.Duration > TimeSpan.Zero);
        Assert.Equal(v2, (await store.AcquirePolicyLease("u2", present: false, PolicyStamp.Of(v1))).Policy);
        Assert.Equal(v2, (await store.AcquirePolicyLease("u2", present: false, null)).Policy);
    }

    private static StorePolicy Policy(int version, int publishedAtSecond) =>
        new(version, StoreStatus.Active, true, ImmutableDictionary<Purpose, PurposeSetting>.Empty.Add(Purpose.Analytics, new PurposeSetting(true, false)),
            ImmutableDictionary<Purpose, int>.Empty, DateTimeOffset.UnixEpoch.AddSeconds(publishedAtSecond));

    private static PolicyUpdate Update(int version) =>
        new(version, StoreStatus.Active, true, ImmutableDictionary<Purpose, PurposeSetting>.Empty.Add(Purpose.Analytics, new PurposeSetting(true, false)));
}
