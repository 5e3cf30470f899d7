using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Requests;

[GenerateSerializer, Immutable, Alias("shopastro.StoreRequests")]
public sealed record StoreRequests
{
    [Id(0)] public ImmutableList<DataSubjectRequest> Requests { get; init; } = [];
}

/// <summary>
/// §4(5): every request answered within 15 working days of the configured calendar, rejected only on one of the
/// policy's grounds, repeats flagged, the requester's verification recorded. A reminder looks for open requests
/// past their due date and flags each once on the live feed (requestOverdue); being a reminder, it survives
/// restarts and wakes the grain when nothing else does.
/// </summary>
internal sealed class StoreRequestsGrain(
    [PersistentState("requests", StorageNames.Consent)] IPersistentState<StoreRequests> state,
    WorkingDayCalendar calendar,
    TimeProvider time,
    RequestRepeatKeys repeatKeys,
    IOptions<ConsentClusterOptions> options,
    IOptions<RequestOptions> requestOptions) : Grain, IStoreRequestsGrain, IRemindable
{
    public const int WorkingDaysToAnswer = 15;
    private const string OverdueReminder = "requests-overdue";

    private TimeSpan RepeatWindow => requestOptions.Value.RepeatWindow;

    public async Task<RequestChange> Register(RequestRegistration registration)
    {
        var due = calendar.Deadline(registration.ReceivedAt, WorkingDaysToAnswer);
        if (due.Provisional && !requestOptions.Value.AllowProvisionalDueDates)
        {
            return new(RequestChangeStatus.CalendarNotCovered);
        }

        var receivedAt = registration.ReceivedAt.ToUniversalTime();
        var repeatKey = repeatKeys.For(this.GetPrimaryKeyString(), registration.SubjectId, registration.Type);
        var repeated = RequestLedger.FindRepeated(state.State.Requests, repeatKey, receivedAt, RepeatWindow);
        var request = new DataSubjectRequest(
            Guid.CreateVersion7(time.GetUtcNow()).ToString("N"), registration.SubjectId, registration.Type, RequestStatus.Open,
            receivedAt, due.At, null,
            DueAtProvisional: due.Provisional, RepeatKey: repeatKey, RepeatOf: repeated?.Id, Verification: registration.Verification);
        await Persist(state.State.Requests.Add(request));
        var check = options.Value.RequestOverdueCheck;
        await this.RegisterOrUpdateReminder(OverdueReminder, check, check);
        return new(RequestChangeStatus.Done, request);
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
            await Persist(requests.Select(r => newlyOverdue.Contains(r) ? r with { OverdueNotified = true } : r).ToImmutableList());
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
            RequestFilter.Rejected => request.Status == RequestStatus.Rejected,
            _ => true,
        }).ToArray());
    }

    public Task<DataSubjectRequest?> Get(string requestId) =>
        Task.FromResult(state.State.Requests.Find(r => r.Id == requestId));

    public async Task<RequestChange> Verify(string requestId, IdentityVerification verification)
    {
        if (Find(requestId) is not { } request)
        {
            return new(RequestChangeStatus.NotFound);
        }

        if (request.Status != RequestStatus.Open)
        {
            return new(RequestChangeStatus.AlreadyClosed, request);
        }

        return await Replace(request, request with { Verification = verification });
    }

    public async Task<RequestChange> Complete(string requestId)
    {
        if (Find(requestId) is not { } request)
        {
            return new(RequestChangeStatus.NotFound);
        }

        switch (request.Status)
        {
            case RequestStatus.Completed:
                return new(RequestChangeStatus.Done, request);
            case RequestStatus.Rejected:
                return new(RequestChangeStatus.AlreadyClosed, request);
        }

        if (request.Type.ChangesTheSubject())
        {
            if (request.Verification is null)
            {
                return new(RequestChangeStatus.IdentityNotVerified, request);
            }

            // The same grain operations as DELETE .../subjects/{id} and POST .../cancel, durable (and every lease
            // revoked) before the request is marked completed; a failure leaves the request open, to be retried.
            var subject = GrainFactory.GetGrain<ISubjectGrain>(SubjectKey.Of(this.GetPrimaryKeyString(), request.SubjectId!));
            await (request.Type == RequestType.Deletion ? subject.Erase() : subject.Cancel());
        }

        return await Replace(request, RequestLedger.Close(request, time.GetUtcNow()));
    }

    public async Task<RequestChange> Reject(string requestId, RejectionGround ground)
    {
        if (Find(requestId) is not { } request)
        {
            return new(RequestChangeStatus.NotFound);
        }

        if (request.Status != RequestStatus.Open)
        {
            var same = request.Status == RequestStatus.Rejected && request.RejectionGround == ground;
            return new(same ? RequestChangeStatus.Done : RequestChangeStatus.AlreadyClosed, request);
        }

        return await Replace(request, RequestLedger.Close(request, time.GetUtcNow(), ground));
    }

    private DataSubjectRequest? Find(string requestId) => state.State.Requests.Find(r => r.Id == requestId);

    private async Task<RequestChange> Replace(DataSubjectRequest current, DataSubjectRequest next)
    {
        await Persist(state.State.Requests.Replace(current, next));
        return new(RequestChangeStatus.Done, next);
    }

    /// <summary>Every write also forgets the repeat keys that no later request can need.</summary>
    private Task Persist(ImmutableList<DataSubjectRequest> requests) =>
        state.PersistAsync(
            state.State with { Requests = RequestLedger.ForgetRepeatKeys(requests, time.GetUtcNow(), RepeatWindow) }, this, "request");
}
