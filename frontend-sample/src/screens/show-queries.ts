// The GraphQL documents of the show page and the shapes it reads (contract/schema.graphql + next.graphql).
import { HOLD_PROBLEM_FIELDS } from '../api';
import type { Hold, PriceTier, Rejected, SeatsUnavailable, SectionAvailability, WaitingRoomSettings } from '../types';
import { HOLD_FIELDS } from '../widgets';

export const SEAT_FIELDS = 'id sectionId section row number status version priceCents accessible obstructedView x y';

export const SHOW = `
  query Show($id: ID!) {
    show(id: $id) {
      id startsAt onSaleAt currency holdTtlSeconds maxTicketsPerUser
      event { id name venue { id name city timeZone } }
      priceTiers { id name priceCents sectionIds }
      waitingRoom { enabled admitPerMinute admissionTtlSeconds queueLength }
      availability { version sections { sectionId name generalAdmission capacity available } }
    }
  }`;

export const SEATS = `
  query ShowSeats($id: ID!, $sectionId: ID) {
    show(id: $id) { id seats(sectionId: $sectionId) { ${SEAT_FIELDS} } }
  }`;

export const SEAT_CHANGES = `
  subscription SeatChanges($showId: ID!, $sinceVersion: Int) {
    seatChanges(showId: $showId, sinceVersion: $sinceVersion) {
      showId version
      seats { seatId status version }
      sections { sectionId name generalAdmission capacity available }
    }
  }`;

export const HOLD = `query Hold($id: ID!) { hold(id: $id) { __typename ${HOLD_FIELDS} } }`;

export const HOLD_SEATS = `
  mutation HoldSeats($input: HoldSeatsInput!) {
    holdSeats(input: $input) { __typename ... on Hold { ${HOLD_FIELDS} } ${HOLD_PROBLEM_FIELDS} }
  }`;

export const RELEASE_HOLD = `
  mutation ReleaseHold($holdId: ID!) {
    releaseHold(holdId: $holdId) { __typename ... on Hold { ${HOLD_FIELDS} } ${HOLD_PROBLEM_FIELDS} }
  }`;

export interface ShowDetail {
  id: string;
  startsAt: string;
  onSaleAt: string | null;
  currency: string;
  holdTtlSeconds: number;
  maxTicketsPerUser: number;
  event: { id: string; name: string; venue: { id: string; name: string; city: string; timeZone: string } };
  priceTiers: PriceTier[];
  waitingRoom: WaitingRoomSettings & { admissionTtlSeconds: number };
  availability: { version: number; sections: SectionAvailability[] };
}

export type HoldResult = Hold | SeatsUnavailable | Rejected;
