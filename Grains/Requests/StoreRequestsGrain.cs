using System.Collections.Immutable;
using Orleans.Runtime;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Requests;

[GenerateSerializer, Immutable, Alias("shopastro.StoreRequests")]
public sealed record StoreRequests
{
    [Id(0)] public ImmutableList<DataSubjectRequest> Requests { get; init; } = [];
}

/// <summary>
/// §4(5): every request answered within 15 working days of the configured calendar. A reminder looks for
/// open requests past their due date and flags each once on the live feed (requestOverdue); being a
/// reminder, it survives restarts and wakes the grain when nothing else does.
/// </summary>
internal sealed class StoreRequestsGrain(
    [PersistentState("requests", StorageNames.Consent)] IPersistentState<StoreRequests> state,
    WorkingDayCalendar calendar,
    TimeProvider time,
    Microsoft.Extensions.Options.IOptions<ConsentClusterOptions> options) : Grain, IStoreRequestsGrain, IRemindable
{
    public const int WorkingDaysToAnswer = 15;
    private const string OverdueReminder = "requests-overdue";

    public async Task<DataSubjectRequest> Register(string subjectId, RequestType type, DateTimeOffset receivedAt)
    {
        var request = new DataSubjectRequest(
            Guid.CreateVersion7(time.GetUtcNow()).ToString("N"), subjectId, type, RequestStatus.Open,
            receivedAt.ToUniversalTime(), calendar.DueAt(receivedAt, WorkingDaysToAnswer), null);
        await Persist(state.State with { Requests = state.State.Requests.Add(request) });
        var check = options.Value.RequestOverdueCheck;
        await this.RegisterOrUpdateReminder(OverdueReminder, check, check);
        return request;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != OverdueReminder)
        {
            return;
        }

        var now = time.GetUtcNow();
        var requests = state.State.Requests;
        var newlyOverdue = requests.Where(r => r.IsOverdue(now) && !r.OverdueNotified).ToList();
        if (newlyOverdue.Count > 0)
        {
            await Persist(state.State with
            {
                Requests = requests.Select(r => newlyOverdue.Contains(r) ? r with { OverdueNotified = true } : r).ToImmutableList(),
            });
            GrainFactory.GetGrain<IStoreFeedGrain>(this.GetPrimaryKeyString())
                .Publish(newlyOverdue.Select(r => new FeedEvent(FeedEventType.RequestOverdue, now, r.SubjectId, Request: r)).ToArray())
                .Ignore();
        }

        if (!state.State.Requests.Any(r => r.Status == RequestStatus.Open && !r.OverdueNotified))
        {
            if (await this.GetReminder(OverdueReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
    }

    public Task<DataSubjectRequest[]> List(RequestFilter filter)
    {
        var now = time.GetUtcNow();
        return Task.FromResult(state.State.Requests.Where(request => filter switch
        {
            RequestFilter.Open => request.Status == RequestStatus.Open,
            RequestFilter.Overdue => request.IsOverdue(now),
            RequestFilter.Completed => request.Status == RequestStatus.Completed,
            _ => true,
        }).ToArray());
    }

    public Task<DataSubjectRequest?> Get(string requestId) =>
        Task.FromResult(state.State.Requests.Find(r => r.Id == requestId));

    public async Task<DataSubjectRequest?> Complete(string requestId)
    {
        var index = state.State.Requests.FindIndex(r => r.Id == requestId);
        if (index < 0)
        {
            return null;
        }

        var request = state.State.Requests[index];
        if (request.Status == RequestStatus.Completed)
        {
            return request;
        }

        var completed = request with { Status = RequestStatus.Completed, CompletedAt = time.GetUtcNow() };
        await Persist(state.State with { Requests = state.State.Requests.SetItem(index, completed) });
        return completed;
    }

    private Task Persist(StoreRequests next) => state.PersistAsync(next, this, "request");
}
