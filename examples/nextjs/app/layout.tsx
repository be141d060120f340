import type { ReactNode } from 'react'
import './globals.css'

export const metadata = { title: 'llm-compare · Next.js', description: 'Models side by side, streamed live' }

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  )
}
