using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Grains;

/// <summary>A store's data-subject requests at the grain level, through a real silo and its storage.</summary>
public sealed class StoreRequestsGrainTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly IGrainFactory _grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();

    [Fact]
    public async Task Requests_are_due_15_working_days_after_receipt_and_can_be_completed()
    {
        var requests = _grains.GetGrain<IStoreRequestsGrain>("req-" + Guid.NewGuid().ToString("N")[..8]);
        var fresh = await Register(requests, "u1", RequestType.Access, new DateTimeOffset(2026, 11, 23, 2, 0, 0, TimeSpan.Zero));
        var old = await Register(requests, "u2", RequestType.Deletion, new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero),
            new IdentityVerification(VerificationMethod.SmsCode, new DateTimeOffset(2026, 1, 5, 9, 5, 0, TimeSpan.Zero)));
        var example = await Register(requests, "u3", RequestType.Explanation, new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));

        Assert.Equal(new DateTimeOffset(2026, 12, 18, 15, 59, 59, TimeSpan.Zero), example.DueAt);
        Assert.Equal([old.Id], (await requests.List(RequestFilter.Overdue)).Select(r => r.Id));
        Assert.Equal(3, (await requests.List(RequestFilter.Open)).Length);

        var completed = await requests.Complete(old.Id);
        Assert.Equal(RequestChangeStatus.Done, completed.Status);
        Assert.Equal(RequestStatus.Completed, completed.Request!.Status);
        Assert.Empty(await requests.List(RequestFilter.Overdue));
        Assert.Equal([old.Id], (await requests.List(RequestFilter.Completed)).Select(r => r.Id));
        Assert.Equal(RequestChangeStatus.NotFound, (await requests.Complete("no-such-request")).Status);
        Assert.Equal(new DateTimeOffset(2026, 12, 14, 15, 59, 59, TimeSpan.Zero), fresh.DueAt);
    }

    private static async Task<DataSubjectRequest> Register(
        IStoreRequestsGrain requests, string subject, RequestType type, DateTimeOffset receivedAt, IdentityVerification? verification = null)
    {
        var change = await requests.Register(new RequestRegistration(subject, type, receivedAt, verification));
        Assert.Equal(RequestChangeStatus.Done, change.Status);
        return change.Request!;
    }
}
